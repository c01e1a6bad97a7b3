"""Serving: tokens per second through Crucible's gateway against in-process generate, and
throughput at 8 concurrent clients against sequential requests, with p50/p95 latency; then
8 streamed chats at once against the same 8 one after another and against in-process
batched `generate` of the same 8 prompts.

    .venv/bin/python bench/serving_bench.py [--requests 16] [--tokens 64] [--clients 8] [--streams-only] [--rounds 3]
        [--separate-gateway | --gunicorn]

Self-contained: a temporary data folder and SQLite database, a GPT-2 built locally
(4 layers, n_embd 128, untrained so that greedy decoding rarely stops early), registered
in the model registry and deployed as a service with one replica (the deploy job body runs
in this process; the replica is the real `serving.replica` child process). The gateway is
the Django app on a threaded WSGI server in this process; clients POST /v1/completions
(temperature 0) with an API key. The in-process baseline runs model.generate on the same
folder with the same torch thread count as the replica.

Streamed chats: POST /v1/chat/completions with stream=True (temperature 0, `max_tokens`
--tokens), the server-sent events read as they come; tokens are the `usage` of the last
chunk; time to first token is to the first chunk with content. The batched baseline formats
the same messages with the replica's own chat_prompt, left-pads the 8 prompts and runs one
greedy `model.generate` (tokens after an end-of-text not counted).
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
        owner=user, name="bench", versions=[services.VersionSpec(registry_version=app_version.uid)],
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


GATEWAY_CHILD = r"""
import os, sys, threading
sys.path.insert(0, sys.argv[1])
import django
django.setup()
from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass

server = ThreadedWSGIServer(("127.0.0.1", 0), Quiet, allow_reuse_address=False)
server.set_app(WSGIHandler())
print(server.server_address[1], flush=True)
server.serve_forever()
"""


class ChildGateway:
    """The gateway in a process of its own (as a deployment runs it: not in the clients' process)."""

    def __init__(self, gunicorn=False):
        import socket
        import subprocess

        if not gunicorn:
            self.process = subprocess.Popen([sys.executable, "-c", GATEWAY_CHILD, str(ROOT)], stdout=subprocess.PIPE,
                                            env=dict(os.environ), text=True)
            self.port = int(self.process.stdout.readline())
            return
        # As bin/up serves the site: gunicorn, 2 workers of 4 threads (WEB_CONCURRENCY, WEB_THREADS).
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process = subprocess.Popen(
            [str(ROOT / ".venv/bin/gunicorn"), "config.wsgi", "--bind", f"127.0.0.1:{self.port}",
             "--workers", os.environ.get("WEB_CONCURRENCY", "2"), "--threads", os.environ.get("WEB_THREADS", "4"),
             "--timeout", "120", "--no-control-socket", "--log-level", "warning"],
            cwd=ROOT, env=dict(os.environ))
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("gunicorn did not start")

    def shutdown(self):
        self.process.terminate()
        self.process.wait(timeout=10)


def request(base, api_key, prompt, tokens):
    body = json.dumps({"model": "bench", "prompt": prompt, "max_tokens": tokens, "temperature": 0}).encode()
    req = urllib.request.Request(f"{base}/v1/completions", data=body, method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {api_key}"})
    started = time.perf_counter()
    with urllib.request.urlopen(req, timeout=300) as response:
        data = json.loads(response.read())
    return time.perf_counter() - started, data["usage"]["completion_tokens"]


def stream_chat(base, api_key, prompt, tokens):
    """One streamed chat: (seconds, completion tokens, seconds to the first content chunk)."""
    body = json.dumps({"model": "bench", "messages": [{"role": "user", "content": prompt}], "max_tokens": tokens,
                       "temperature": 0, "stream": True}).encode()
    req = urllib.request.Request(f"{base}/v1/chat/completions", data=body, method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {api_key}"})
    started = time.perf_counter()
    first, usage = None, None
    with urllib.request.urlopen(req, timeout=300) as response:
        for line in response:
            if not line.startswith(b"data: ") or line.strip() == b"data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if first is None and chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                first = time.perf_counter() - started
            usage = chunk.get("usage") or usage
    return time.perf_counter() - started, usage["completion_tokens"], first or 0.0


def stream_direct(replica_url, headers, prompt, tokens):
    """One streamed chat straight to the replica's /generate (no gateway; `headers` carry the replica's
    token, as the gateway sends it): (seconds, tokens)."""
    body = json.dumps({"messages": [{"role": "user", "content": prompt}], "max_tokens": tokens, "temperature": 0,
                       "stream": True}).encode()
    req = urllib.request.Request(f"{replica_url}/generate", data=body, method="POST",
                                 headers={"Content-Type": "application/json", **headers})
    started, done = time.perf_counter(), {}
    with urllib.request.urlopen(req, timeout=300) as response:
        for line in response:
            event = json.loads(line) if line.strip() else {}
            if event.get("done"):
                done = event
    return time.perf_counter() - started, done.get("completion_tokens", 0)


def in_process_batched(model_dir, prompts, tokens, threads, calls=3):
    """The same chats as one left-padded greedy `generate` call: tokens/s, the median of `calls` calls
    (one call alone swings by +-30 % on a small shared machine)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from serving.replica import chat_prompt

    torch.set_num_threads(threads)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    texts = [chat_prompt(tokenizer, [{"role": "user", "content": p}]) for p in prompts]
    rates = []
    for _ in range(calls):
        started = time.perf_counter()
        batch = tokenizer(texts, return_tensors="pt", padding=True)
        with torch.inference_mode():
            out = model.generate(**batch, max_new_tokens=tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id)
        seconds = time.perf_counter() - started
        total = 0
        for row in out[:, batch["input_ids"].shape[1]:].tolist():
            total += row.index(tokenizer.eos_token_id) if tokenizer.eos_token_id in row else len(row)
        rates.append(total / seconds)
    return statistics.median(rates)


def streams(base, api_key, model_dir, tokens, threads, count=8, rounds=3):
    """`rounds` rounds of: the `count` chats one after another, the same at once, in-process batched
    generate; medians of each (the three alternate, so that the machine's load drifts over all)."""
    prompts = PROMPTS[:count]
    stream_chat(base, api_key, prompts[0], 4)  # warm
    seq, conc, batched, seq_first, conc_first, direct = [], [], [], [], [], []
    from serving import processes
    from serving.models import Replica

    replica = Replica.objects.filter(port__isnull=False).first()
    replica_headers = processes.auth_headers(replica) if replica else {}
    for _ in range(rounds):
        started = time.perf_counter()
        sequential = [stream_chat(base, api_key, p, tokens) for p in prompts]
        seq.append(sum(n for _, n, _ in sequential) / (time.perf_counter() - started))
        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(count) as pool:
            together = list(pool.map(lambda p: stream_chat(base, api_key, p, tokens), prompts))
        conc.append(sum(n for _, n, _ in together) / (time.perf_counter() - started))
        batched.append(in_process_batched(model_dir, prompts, tokens, threads))
        try:  # the replica alone, without the gateway (with the replica's token)
            started = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(count) as pool:
                straight = list(pool.map(lambda p: stream_direct(replica.url, replica_headers, p, tokens), prompts))
            direct.append(sum(n for _, n in straight) / (time.perf_counter() - started))
        except (OSError, AttributeError) as exc:
            print(f"  (the replica alone: skipped, {exc})")
        seq_first += [f for _, _, f in sequential]
        conc_first += [f for _, _, f in together]
    median = statistics.median
    return {"sequential": median(seq), "concurrent": median(conc), "batched": median(batched),
            "seq_first": median(seq_first), "conc_first": median(conc_first), "rounds": rounds,
            "ratios": [c / s for c, s in zip(conc, seq)], "vs_batched": [c / b for c, b in zip(conc, batched)],
            "direct": median(direct) if direct else None}


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
    parser.add_argument("--streams-only", action="store_true", help="only the streamed-chat comparison")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the streamed-chat comparison (medians)")
    parser.add_argument("--separate-gateway", action="store_true",
                        help="run the gateway in a process of its own instead of a thread of this one")
    parser.add_argument("--gunicorn", action="store_true",
                        help="run the gateway as bin/up does: gunicorn, 2 workers of 4 threads")
    args = parser.parse_args()
    model_dir = Path(os.environ["CRUCIBLE_DATA_DIR"]) / "bench-model"
    api_key, version = setup(model_dir)
    from serving import conf

    if args.separate_gateway or args.gunicorn:
        server = ChildGateway(gunicorn=args.gunicorn)
        base = f"http://127.0.0.1:{server.port}"
    else:
        server, base = serve()
    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(args.requests)]
    try:
        streamed = streams(base, api_key, model_dir, args.tokens, conf.REPLICA_THREADS, args.clients, args.rounds)
        if args.streams_only:
            return report_streams(streamed, args)
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
    report_streams(streamed, args)


def report_streams(streamed, args):
    print(f"streamed chats through /v1/chat/completions, {args.tokens} new tokens each, greedy:")
    print(f"  {args.clients} one after another: {streamed['sequential']:8.1f} tokens/s  "
          f"first token p50 {streamed['seq_first'] * 1000:6.1f} ms")
    print(f"  {args.clients} at once:            {streamed['concurrent']:8.1f} tokens/s  "
          f"first token p50 {streamed['conc_first'] * 1000:6.1f} ms")
    print(f"  in-process batched generate: {streamed['batched']:8.1f} tokens/s")
    if streamed["direct"]:
        print(f"  {args.clients} at once to the replica itself (no gateway): {streamed['direct']:8.1f} tokens/s "
              f"({streamed['direct'] / streamed['batched']:.2f} of batched generate)")
    per_round = ", ".join(f"{r:.2f}" for r in streamed["ratios"])
    print(f"  at once / one after another: {streamed['concurrent'] / streamed['sequential']:.2f}   (goal >= 3; "
          f"per round {per_round})")
    per_round = ", ".join(f"{r:.2f}" for r in streamed["vs_batched"])
    print(f"  at once / batched generate:  {streamed['concurrent'] / streamed['batched']:.2f}   (goal >= 0.8; "
          f"per round {per_round}; median of the rounds {statistics.median(streamed['vs_batched']):.2f})")
    print(f"  (medians of {streamed['rounds']} rounds; load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
