"""Serving: tokens per second through Crucible's gateway against in-process generate, and
throughput at 8 concurrent clients against sequential requests, with p50/p95 latency.

    .venv/bin/python bench/serving_bench.py [--requests 16] [--tokens 64] [--clients 8]

Self-contained: a temporary data folder and SQLite database, a GPT-2 built locally
(4 layers, n_embd 128, untrained so that greedy decoding rarely stops early), registered
in the model registry and deployed as a service with one replica (the deploy job body runs
in this process; the replica is the real `serving.replica` child process). The gateway is
the Django app on a threaded WSGI server in this process; clients POST /v1/completions
(temperature 0) with an API key. The in-process baseline runs model.generate on the same
folder with the same torch thread count as the replica.
"""

import argparse
import concurrent.futures
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["CRUCIBLE_DATA_DIR"] = tempfile.mkdtemp(prefix="crucible-bench-serving-")
os.environ.pop("DATABASE_URL", None)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

PROMPTS = [
    "The river runs past the old mill",
    "A small model learns the shape of language",
    "Researchers train models on data and",
    "The weather today is clear with a light wind",
    "Good software is simple to read",
    "The library was quiet except for",
    "On Monday the team met to plan the week",
    "The mountain path was steep, but",
]


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def setup(model_dir):
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from accounts.services import create_api_key, register_user
    from core.jobs import run_job
    from hub.tiny_models import build_tiny_gpt2
    from registry.services import register_training_result
    from serving import services
    from serving.models import ServingJob

    build_tiny_gpt2(model_dir, train_steps=0, n_layer=4, n_embd=128, n_head=4)
    user = register_user(username="bench", password="bench-password-123")
    key, secret = create_api_key(user, secret_id="bench-key", secret_key="k" * 32)
    app_version = register_training_result(owner=user, application_name="bench-gpt2", folder=model_dir)
    service, versions = services.create_service(
        actor=user, model_server={"name": "bench"}, versions=[{"aiApplicationVersionId": app_version.uid}],
        deploy=False,
    )
    services.deploy_version(versions[0], user)
    job = ServingJob.objects.get(version=versions[0])
    run_job(ServingJob, job.pk, services.run_serving_job)
    job.refresh_from_db()
    if job.status != "succeeded":
        raise SystemExit(f"deploy failed: {job.error}\n{job.log}")
    return f"{key.secret_id}:{secret}", versions[0]


def serve():
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    server = ThreadedWSGIServer(("127.0.0.1", 0), Quiet, allow_reuse_address=False)
    server.set_app(WSGIHandler())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def request(base, api_key, prompt, tokens):
    body = json.dumps({"model": "bench", "prompt": prompt, "max_tokens": tokens, "temperature": 0}).encode()
    req = urllib.request.Request(f"{base}/v1/completions", data=body, method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {api_key}"})
    started = time.perf_counter()
    with urllib.request.urlopen(req, timeout=300) as response:
        data = json.loads(response.read())
    return time.perf_counter() - started, data["usage"]["completion_tokens"]


def in_process(model_dir, prompts, tokens, threads):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(threads)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    total_tokens, latencies = 0, []
    started = time.perf_counter()
    for prompt in prompts:
        t0 = time.perf_counter()
        ids = tokenizer(prompt, return_tensors="pt")
        with torch.inference_mode():
            out = model.generate(**ids, max_new_tokens=tokens, do_sample=False, pad_token_id=tokenizer.eos_token_id)
        generated = out[0, ids["input_ids"].shape[1]:].tolist()
        if tokenizer.eos_token_id in generated:
            generated = generated[: generated.index(tokenizer.eos_token_id)]
        total_tokens += len(generated)
        latencies.append(time.perf_counter() - t0)
    return total_tokens / (time.perf_counter() - started), latencies


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    model_dir = Path(os.environ["CRUCIBLE_DATA_DIR"]) / "bench-model"
    api_key, version = setup(model_dir)
    from serving import conf

    server, base = serve()
    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(args.requests)]
    try:
        for prompt in PROMPTS[:2]:  # warm both paths
            request(base, api_key, prompt, 4)
        baseline, base_lat = in_process(model_dir, prompts, args.tokens, conf.REPLICA_THREADS)

        started = time.perf_counter()
        sequential = [request(base, api_key, p, args.tokens) for p in prompts]
        seq_time = time.perf_counter() - started
        seq_tps = sum(n for _, n in sequential) / seq_time

        many = prompts * 3
        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(args.clients) as pool:
            concurrent_results = list(pool.map(lambda p: request(base, api_key, p, args.tokens), many))
        conc_time = time.perf_counter() - started
        conc_tps = sum(n for _, n in concurrent_results) / conc_time
    finally:
        server.shutdown()
        from serving import services
        from serving.models import Replica

        for replica in Replica.objects.all():
            services.stop_replica(replica)

    seq_lat = [t for t, _ in sequential]
    conc_lat = [t for t, _ in concurrent_results]
    print(f"model: GPT-2 4 layers n_embd 128, {args.tokens} new tokens per request, greedy; "
          f"torch threads {conf.REPLICA_THREADS}; batch window {conf.BATCH_WINDOW_MS:g} ms, max batch {conf.MAX_BATCH}")
    print(f"in-process generate:          {baseline:8.1f} tokens/s  p50 {statistics.median(base_lat) * 1000:6.1f} ms")
    print(f"served, sequential:           {seq_tps:8.1f} tokens/s  p50 {percentile(seq_lat, .5) * 1000:6.1f} ms  "
          f"p95 {percentile(seq_lat, .95) * 1000:6.1f} ms")
    print(f"served, {args.clients} concurrent clients:  {conc_tps:8.1f} tokens/s  p50 "
          f"{percentile(conc_lat, .5) * 1000:6.1f} ms  p95 {percentile(conc_lat, .95) * 1000:6.1f} ms")
    print(f"served / in-process (sequential): {seq_tps / baseline:.2f}   (goal >= 0.9)")
    print(f"{args.clients} concurrent / sequential throughput: {conc_tps / seq_tps:.2f}   (goal >= 3)")


if __name__ == "__main__":
    main()
