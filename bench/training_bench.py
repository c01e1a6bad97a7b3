"""The platform's LoRA fine-tune against a plain PEFT script, and dispatch latency.

    .venv/bin/python bench/training_bench.py [--steps 200] [--runs 3] [--threads N] [--dispatch 10]

Both sides train the same tiny GPT-2 (hub.tiny_models) with LoRA on the same data, for the
same steps, with the same TrainingArguments (checkpoints at the same steps, adapter and
tokenizer saved at the end), on the same machine, one at a time, alternating which goes first:

- platform: POST /kernel/fineTune/createLlmFineTuneTask -> a real Celery worker -> the runner
  child process -> adapter saved and registered; timed from the POST until the task succeeded.
  Its parts: queue wait (created -> started), the runner process (its own wall time, from its
  `done` event), and the rest (preparing the work folder, registering the adapter, finishing),
  plus the CPU seconds the worker itself (not the runner) used during the run.
- plain: PLAIN_PEFT below run as `python -c` (transformers Trainer + peft, nothing else), timed
  from process start to exit (imports included, as for the platform's child).

`--threads N` sets OMP_NUM_THREADS for both sides (the worker passes it to the runner); on a
busy machine `--threads 1` gives steadier numbers. The worker uses the production heartbeat
intervals (job 5 s, worker 10 s), not the tests' 1 s.

Dispatch latency: POST /kernel/trainOperator/createTask with the command `true`, timed from
the POST until the job is running (the worker claimed it). A temporary CRUCIBLE_DATA_DIR,
SQLite and the filesystem broker unless DATABASE_URL / CELERY_BROKER_URL say otherwise.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("CRUCIBLE_DATA_DIR", tempfile.mkdtemp(prefix="crucible-bench-training-"))
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings_test"
os.environ.setdefault("LOG_LEVEL", "WARNING")
# config.settings_test would set 1-second heartbeats; a deployment beats every 5 s (job) and 10 s (worker).
os.environ.setdefault("JOB_HEARTBEAT_SECONDS", "5")
os.environ.setdefault("WORKER_HEARTBEAT_SECONDS", "10")
POLL_SECONDS = 0.1  # how often the bench looks at the task: often enough, cheap enough not to compete


PLAIN_PEFT = r"""
import json, sys
from pathlib import Path
import torch
from peft import LoraConfig, TaskType, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments, default_data_collator

config = json.loads(sys.argv[1])
h = config["hyper"]
tokenizer = AutoTokenizer.from_pretrained(config["model_dir"])
model = AutoModelForCausalLM.from_pretrained(config["model_dir"])
model = get_peft_model(model, LoraConfig(task_type=TaskType.CAUSAL_LM, r=h["lora_r"], lora_alpha=h["lora_alpha"],
                                         lora_dropout=h["lora_dropout"], target_modules=["c_attn"]))
ids = []
for line in (Path(config["data_dir"]) / "train" / "train.jsonl").read_text().splitlines():
    ids.extend(tokenizer(json.loads(line)["text"] + tokenizer.eos_token)["input_ids"])
n = h["max_seq_length"]
blocks = [ids[i:i + n] for i in range(0, len(ids) - n + 1, n)]

class Blocks(torch.utils.data.Dataset):
    def __len__(self):
        return len(blocks)
    def __getitem__(self, i):
        t = torch.tensor(blocks[i])
        return {"input_ids": t, "attention_mask": torch.ones_like(t), "labels": t}

args = TrainingArguments(output_dir=config["output_dir"], learning_rate=h["learning_rate"], max_steps=h["max_steps"],
                         per_device_train_batch_size=h["per_device_train_batch_size"], logging_steps=h["logging_steps"],
                         save_strategy=h["save_strategy"], save_steps=h["save_steps"], report_to=[], disable_tqdm=True,
                         use_cpu=not torch.cuda.is_available(), seed=42)
trainer = Trainer(model=model, args=args, train_dataset=Blocks(), data_collator=default_data_collator)
trainer.train()
model.save_pretrained(Path(config["output_dir"]) / "final")
tokenizer.save_pretrained(Path(config["output_dir"]) / "final")
"""


def setup_django():
    import django
    from django.core.management import call_command

    django.setup()
    from django.conf import settings
    from django.db import connection

    # Bench in the data folder's own database (settings_test points tests elsewhere).
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = str(Path(settings.DATA_DIR) / "bench.sqlite3")
    call_command("migrate", verbosity=0)


def prepare(folder):
    from django.core.files.base import ContentFile

    from accounts.models import ResourceQuota
    from files import services as files
    from hub.tiny_models import build_tiny_gpt2, corpus_lines
    from tests.factories import UserFactory

    user = UserFactory(username="bench")
    ResourceQuota.objects.update_or_create(user=user, defaults={"cpu": 64, "memory_gb": 256, "job_slots": 64})
    model_dir = build_tiny_gpt2(Path(folder) / "model")
    data_dir = Path(folder) / "data"
    (data_dir / "train").mkdir(parents=True)
    lines = corpus_lines()
    (data_dir / "train" / "train.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in lines))
    uploads = [files.Upload(f"Model/{p.name}", ContentFile(p.read_bytes(), name=p.name)) for p in model_dir.iterdir()]
    uploads.append(files.Upload("Data/train/train.jsonl", ContentFile((data_dir / "train" / "train.jsonl").read_bytes(), name="t")))
    files.upload_files(user, user, "private", "", uploads)
    return user, model_dir, data_dir


def hyper(steps):
    return {
        "learning_rate": 0.01, "max_steps": steps, "per_device_train_batch_size": 4, "max_seq_length": 64,
        "logging_steps": 10, "save_strategy": "steps", "save_steps": 100, "lora_r": 8, "lora_alpha": 16,
        "lora_dropout": 0.05,
    }


def client_for(user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user)
    return client


def wait_for(predicate, timeout=1800, interval=POLL_SECONDS):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.perf_counter()
        time.sleep(interval)
    raise TimeoutError


def cpu_seconds(pid):
    """CPU seconds (user + system) used so far by the process `pid` itself, not its children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker_cpu(worker):
    """CPU seconds of the Celery worker: its main process and its pool processes (the runner,
    a child of a pool process, is not counted)."""
    pids = [worker.pid]
    for children in Path(f"/proc/{worker.pid}/task").glob("*/children"):
        pids.extend(int(pid) for pid in children.read_text().split())
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def runner_seconds(task):
    """The runner's own wall time, from the `done` event in the task's log file."""
    from training import selectors

    for line in reversed(selectors.log_path(task).read_text().splitlines()):
        if line.startswith("@@crucible ") and '"done"' in line:
            return json.loads(line[len("@@crucible "):]).get("seconds")
    return None


def platform_run(client, steps, worker=None):
    from training.models import LlmTask

    body = {"name": "bench", "originModelDir": "Model", "inputDir": "Data", "fineTuneStrategy": "LoRA",
            "commonHyperParameters": [{"name": k, "value": str(v)} for k, v in hyper(steps).items()]}
    cpu_before = worker_cpu(worker) if worker else 0.0
    started = time.perf_counter()
    response = client.post("/kernel/fineTune/createLlmFineTuneTask", body, format="json")
    assert response.status_code == 200, response.content
    pk = response.json()["data"]["taskId"]
    ended = wait_for(lambda: LlmTask.objects.filter(pk=pk).exclude(status__in=["queued", "running"]).exists())
    task = LlmTask.objects.get(pk=pk)
    assert task.status == "succeeded", task.error
    queue = (task.started_at - task.created_at).total_seconds()
    runner = runner_seconds(task)
    return {
        "seconds": ended - started,
        "queue": queue,
        "runner": runner,
        "rest": ended - started - queue - runner,
        "worker_cpu": (worker_cpu(worker) - cpu_before) if worker else None,
    }


def plain_run(model_dir, data_dir, steps, out, threads=None):
    config = {"model_dir": str(model_dir), "data_dir": str(data_dir), "output_dir": str(out), "hyper": hyper(steps)}
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    started = time.perf_counter()
    # Output to a pipe that is read, as the worker reads the runner's.
    done = subprocess.run([sys.executable, "-c", PLAIN_PEFT, json.dumps(config)], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"the plain script failed ({done.returncode}):\n{done.stdout.decode()[-3000:]}")
    return seconds


def dispatch_latency(client):
    from training.models import CodeTask

    started = time.perf_counter()
    response = client.post("/kernel/trainOperator/createTask", {"command": "true"}, format="json")
    pk = response.json()["data"]["taskId"]
    running = wait_for(lambda: CodeTask.objects.filter(pk=pk).exclude(status="queued").exists(), interval=0.005)
    wait_for(lambda: CodeTask.objects.filter(pk=pk, status="succeeded").exists())
    return running - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=200, help="training steps on both sides (default 200)")
    parser.add_argument("--runs", type=int, default=3, help="repeats of the pair; medians are reported (default 3)")
    parser.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS for both sides (default: torch's own)")
    parser.add_argument("--dispatch", type=int, default=10, help="dispatch-latency samples (0: skip)")
    args = parser.parse_args()
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the worker's environment, passed to the runner
    setup_django()
    from tests.worker import start_worker, stop_worker, wait_for_worker

    worker = start_worker(name="bench", queues=["training"], concurrency=1)
    try:
        with tempfile.TemporaryDirectory() as folder:
            user, model_dir, data_dir = prepare(folder)
            wait_for_worker(worker, "bench@")
            client = client_for(user)
            platform_run(client, 5)  # warm the worker (first imports, page cache)
            plain_run(model_dir, data_dir, 5, Path(folder) / "plain-warm", args.threads)
            platform, plain = [], []
            for run in range(args.runs):
                out = Path(folder) / f"plain-{run}"
                if run % 2:  # alternate the order, so that drift in the machine's load hits both sides
                    plain.append(plain_run(model_dir, data_dir, args.steps, out, args.threads))
                    platform.append(platform_run(client, args.steps, worker))
                else:
                    platform.append(platform_run(client, args.steps, worker))
                    plain.append(plain_run(model_dir, data_dir, args.steps, out, args.threads))
                p = platform[-1]
                print(f"run {run + 1}: platform {p['seconds']:.2f} s (queue {p['queue']:.2f} s, runner process "
                      f"{p['runner']:.2f} s, rest {p['rest']:.2f} s), "
                      f"plain PEFT {plain[-1]:.2f} s, ratio {p['seconds'] / plain[-1]:.3f}, "
                      f"load average {os.getloadavg()[0]:.1f}", flush=True)
            latencies = [dispatch_latency(client) for _ in range(args.dispatch)]
    finally:
        stop_worker(worker)

    def median(key):
        return statistics.median(p[key] for p in platform)

    total, runner, base = median("seconds"), median("runner"), statistics.median(plain)
    ratios = sorted(p["seconds"] / q for p, q in zip(platform, plain))
    threads = args.threads or "torch default"
    print()
    print(f"LoRA fine-tune, tiny GPT-2, {args.steps} steps, median of {args.runs} (threads: {threads})")
    print("| | seconds |")
    print("|---|---|")
    print(f"| platform, POST -> succeeded | {total:.2f} |")
    print(f"|   queue wait (created -> started) | {median('queue'):.2f} |")
    print(f"|   runner process (imports, load, train, save) | {runner:.2f} |")
    print(f"|   the rest (work folder, registering, finishing, polling) | {median('rest'):.2f} |")
    print(f"|   worker CPU during the run (not the runner) | {median('worker_cpu'):.2f} |")
    print(f"| plain PEFT script | {base:.2f} |")
    print()
    print(f"RATIO platform / plain = {total / base:.3f} (per run: {', '.join(f'{r:.3f}' for r in ratios)}; goal <= 1.05)")
    print(f"ratio runner process / plain = {runner / base:.3f}")
    if latencies:
        lat = sorted(latencies)
        print(f"dispatch POST -> running, median of {len(lat)}: {statistics.median(lat) * 1000:.0f} ms (max {lat[-1] * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
