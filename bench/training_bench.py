"""The platform's LoRA fine-tune against a plain PEFT script, and dispatch latency.

    .venv/bin/python bench/training_bench.py [--case layout|larger|all] [--runs 3] [--threads N] [--dispatch 10]

Cases (both sides train the same model with LoRA on the same data, on the same machine, one
at a time, alternating which goes first; adapter and tokenizer saved at the end on both sides):

- layout: the spec's own layout (platform-api.md section 1: Data/train, Data/validate,
  Data/test) and default settings, as the issue's user ran it: the tiny GPT-2 of hub.tiny_models,
  4,000 short JSON Lines rows in train/ and in validate/, LoRA r 8, batch 8, 1 epoch, every other
  hyper-parameter left to the platform's defaults (training.schedule chooses the cadences).
- larger: a GPT-2 of about 25 M parameters (8 layers, n_embd 512), 20 steps of batch 4 with
  64-token blocks, a validate/ split, defaults otherwise: per-step overheads become visible.

The plain side is PLAIN_PEFT below run as `python -c` (transformers Trainer + peft, nothing else),
given the same TrainingArguments the platform's run chose (logging, evaluation and checkpoint steps,
evaluation batch) and the same evaluation sample (the same validation blocks), plus the final
evaluation of the whole validation split: it does the same evaluations on the same samples. Timed
from process start to exit (imports included, as for the platform's child), its output read from a
pipe as the worker reads the runner's.

The platform side: POST /kernel/fineTune/createLlmFineTuneTask -> a real Celery worker -> the
runner child process -> adapter saved and registered; timed from the POST until the task succeeded.
Its parts: queue wait (created -> started), the runner process (its own wall time, from its `done`
event), the rest (preparing the work folder, registering the adapter, finishing), the CPU seconds
of the worker itself, and the evaluation share (seconds in intermediate evaluations / seconds of
the training loop, from the runner's `timing` event, as the run page shows it).

The platform's task asks for as many CPUs as the machine has (`resource`), so that both sides
get the same cores: without it a task gets one core (`training.services.DEFAULT_CPU`), and its
runner is pinned to that core by the sandbox.

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
import random
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

CASES = {
    # name: model shape, rows per split, the request's hyper-parameters (everything else: defaults)
    "layout": {"model": {}, "rows": {"train": 4000, "validate": 4000, "test": 400},
               "hyper": {"per_device_train_batch_size": 8, "num_train_epochs": 1}},
    "larger": {"model": {"n_layer": 8, "n_embd": 512, "n_head": 8}, "rows": {"train": 400, "validate": 200, "test": 40},
               "hyper": {"per_device_train_batch_size": 4, "max_steps": 20, "max_seq_length": 64}},
}
# The platform's defaults for what the cases leave open (training.runner and training.hyper).
DEFAULTS = {"learning_rate": 1e-4, "lora_r": 8, "lora_alpha": 16, "lora_dropout": 0.05, "max_seq_length": 128,
            "num_train_epochs": 1, "max_steps": -1}


PLAIN_PEFT = r"""
import json, sys
from pathlib import Path
import torch
from peft import LoraConfig, TaskType, get_peft_model
from transformers import (AutoModelForCausalLM, AutoTokenizer, Trainer, TrainerCallback, TrainingArguments,
                          default_data_collator)

config = json.loads(sys.argv[1])
h, a = config["hyper"], config["args"]
tokenizer = AutoTokenizer.from_pretrained(config["model_dir"])
model = AutoModelForCausalLM.from_pretrained(config["model_dir"])
model = get_peft_model(model, LoraConfig(task_type=TaskType.CAUSAL_LM, r=h["lora_r"], lora_alpha=h["lora_alpha"],
                                         lora_dropout=h["lora_dropout"], target_modules=["c_attn"]))

def blocks(split):
    ids = []
    for path in sorted((Path(config["data_dir"]) / split).glob("*.jsonl")):
        for line in path.read_text().splitlines():
            ids.extend(tokenizer(json.loads(line)["text"] + tokenizer.eos_token)["input_ids"])
    n = min(h["max_seq_length"], model.config.n_positions)
    return [ids[i:i + n] for i in range(0, len(ids) - n + 1, n)]

class Blocks(torch.utils.data.Dataset):
    def __init__(self, rows):
        self.rows = rows
    def __len__(self):
        return len(self.rows)
    def __getitem__(self, i):
        t = torch.tensor(self.rows[i])
        return {"input_ids": t, "attention_mask": torch.ones_like(t), "labels": t}

train, validate = blocks("train"), blocks("validate")
sample = [validate[i] for i in config["sample"]] if config["sample"] else validate
args = TrainingArguments(output_dir=config["output_dir"], learning_rate=h["learning_rate"], max_steps=h["max_steps"],
                         num_train_epochs=h["num_train_epochs"], per_device_train_batch_size=h["per_device_train_batch_size"],
                         per_device_eval_batch_size=a["per_device_eval_batch_size"], logging_steps=a["logging_steps"],
                         eval_strategy=a["eval_strategy"], eval_steps=a["eval_steps"], save_strategy=a["save_strategy"],
                         save_steps=a["save_steps"], report_to=[], disable_tqdm=True, use_cpu=not torch.cuda.is_available(),
                         seed=42, dataloader_num_workers=0)
class NoSampleAtTheEnd(TrainerCallback):  # the whole split is evaluated right after training
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= state.max_steps:
            control.should_evaluate = False

trainer = Trainer(model=model, args=args, train_dataset=Blocks(train), eval_dataset=Blocks(sample),
                  data_collator=default_data_collator, callbacks=[NoSampleAtTheEnd()])
trainer.train()
trainer.evaluate(Blocks(validate))
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


def make_user():
    from accounts.models import ResourceQuota
    from tests.factories import UserFactory

    user = UserFactory(username="bench")
    ResourceQuota.objects.update_or_create(user=user, defaults={"cpu": 64, "memory_gb": 256, "job_slots": 64})
    return user


def rows(split, count):
    """Short JSON Lines texts: two sentences of the tiny corpus, a different mix per split."""
    from hub.tiny_models import corpus_lines

    lines = corpus_lines()
    rng = random.Random(split)
    return [{"text": " ".join(rng.sample(lines, 2))} for _ in range(count)]


def prepare(user, folder, name):
    """The case's model and data, in the platform's layout under /<name>/Model and /<name>/Data."""
    from django.core.files.base import ContentFile

    from files import services as files
    from hub.tiny_models import build_tiny_gpt2

    case = CASES[name]
    shape = case["model"]
    model_dir = build_tiny_gpt2(Path(folder) / name / "model", train_steps=30 if not shape else 0, **shape)
    data_dir = Path(folder) / name / "data"
    uploads = [files.Upload(f"{name}/Model/{p.name}", ContentFile(p.read_bytes(), name=p.name))
               for p in model_dir.iterdir()]
    for split, count in case["rows"].items():
        (data_dir / split).mkdir(parents=True)
        text = "".join(json.dumps(row) + "\n" for row in rows(split, count))
        (data_dir / split / f"{split}.jsonl").write_text(text)
        uploads.append(files.Upload(f"{name}/Data/{split}/{split}.jsonl", ContentFile(text.encode(), name="t")))
    files.upload_files(actor=user, owner=user, space="private", folder="", uploads=uploads)
    return model_dir, data_dir


def hyper(name):
    return {**DEFAULTS, **CASES[name]["hyper"]}


def chosen_plan(name, model_dir, data_dir):
    """What the platform's runner will choose for this case (training.schedule, on the same blocks),
    handed to the plain script as explicit TrainingArguments."""
    from django.conf import settings
    from transformers import AutoConfig, AutoTokenizer

    from training import schedule
    from training.runner import read_texts, token_blocks

    h = hyper(name)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    block = min(h["max_seq_length"], AutoConfig.from_pretrained(model_dir).n_positions)
    train = token_blocks(read_texts(data_dir / "train"), tokenizer, block)
    validate = token_blocks(read_texts(data_dir / "validate"), tokenizer, block)
    steps = schedule.total_steps(train_blocks=len(train), batch_size=h["per_device_train_batch_size"], accumulation=1,
                                 epochs=h["num_train_epochs"], max_steps=h["max_steps"])
    plan = schedule.plan(steps=steps, hyper=CASES[name]["hyper"], eval_blocks=len(validate),
                         eval_sample_blocks=settings.TRAINING_EVAL_SAMPLE_BLOCKS)
    plan["sample"] = schedule.sample_indices(len(validate), plan["eval_sample"]) if plan["eval_sample"] else []
    return plan


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


def platform_run(client, name, worker=None, override=None):
    from training.models import LlmTask

    values = {**CASES[name]["hyper"], **(override or {})}
    body = {"name": f"bench-{name}", "originModelDir": f"{name}/Model", "inputDir": f"{name}/Data",
            "fineTuneStrategy": "LoRA",
            "commonHyperParameters": [{"name": k, "value": str(v)} for k, v in values.items()],
            # The machine's cores, as the plain script uses them: a task that asks for no resource
            # gets one core (training.services.DEFAULT_CPU) and its runner is pinned to it.
            "resource": [{"cpuNumber": os.cpu_count() or 1, "memory": 8, "numbers": 1}]}
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
        "schedule": task.schedule,
    }


def plain_run(name, model_dir, data_dir, plan, out, threads=None):
    args = {key: plan[key] for key in ("logging_steps", "eval_strategy", "eval_steps", "save_strategy", "save_steps",
                                       "per_device_eval_batch_size")}
    config = {"model_dir": str(model_dir), "data_dir": str(data_dir), "output_dir": str(out), "hyper": hyper(name),
              "args": args, "sample": plan["sample"]}
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


def idle_cpu(worker, seconds=10):
    """CPU share of one core the idle worker uses (polling the broker folder, heartbeats)."""
    before = worker_cpu(worker)
    time.sleep(seconds)
    return (worker_cpu(worker) - before) / seconds


def run_case(name, client, worker, folder, user, runs, threads):
    model_dir, data_dir = prepare(user, folder, name)
    plan = chosen_plan(name, model_dir, data_dir)
    params = sum(p.numel() for p in __import__("transformers").AutoModelForCausalLM.from_pretrained(model_dir).parameters())
    print(f"case {name}: {params / 1e6:.2f} M parameters, {plan['total_steps']} steps, logging every "
          f"{plan['logging_steps']}, {plan['evaluations']} evaluations of {plan['eval_sample'] or plan['eval_blocks']} "
          f"of {plan['eval_blocks']} validation blocks (every {plan['eval_steps']} steps) + 1 of all, "
          f"checkpoint every {plan['save_steps']}", flush=True)
    # Warm the worker (its first task imports the registry and files code, fills the page cache).
    platform_run(client, name, worker, override={"max_steps": 2, "eval_strategy": "no"})
    platform, plain = [], []
    for run in range(runs):
        out = Path(folder) / f"plain-{name}-{run}"
        if run % 2:  # alternate the order, so that drift in the machine's load hits both sides
            plain.append(plain_run(name, model_dir, data_dir, plan, out, threads))
            platform.append(platform_run(client, name, worker))
        else:
            platform.append(platform_run(client, name, worker))
            plain.append(plain_run(name, model_dir, data_dir, plan, out, threads))
        p = platform[-1]
        assert p["schedule"]["eval_steps"] == plan["eval_steps"] and p["schedule"]["eval_sample"] == plan["eval_sample"]
        print(f"  run {run + 1}: platform {p['seconds']:.2f} s (queue {p['queue']:.2f} s, runner process "
              f"{p['runner']:.2f} s, rest {p['rest']:.2f} s, evaluation share {p['schedule'].get('eval_share', 0):.3f}), "
              f"plain PEFT {plain[-1]:.2f} s, ratio {p['seconds'] / plain[-1]:.3f}, "
              f"load average {os.getloadavg()[0]:.1f}", flush=True)
    return {"name": name, "params": params, "plan": plan, "platform": platform, "plain": plain}


def report(result, runs, threads):
    platform, plain = result["platform"], result["plain"]

    def median(key):
        return statistics.median(p[key] for p in platform)

    total, runner, base = median("seconds"), median("runner"), statistics.median(plain)
    ratios = sorted(p["seconds"] / q for p, q in zip(platform, plain))
    share = statistics.median(p["schedule"].get("eval_share", 0) for p in platform)
    print()
    print(f"case {result['name']} ({result['params'] / 1e6:.2f} M parameters, {result['plan']['total_steps']} steps), "
          f"median of {runs} (threads: {threads or 'torch default'})")
    print("| | seconds |")
    print("|---|---|")
    print(f"| platform, POST -> succeeded | {total:.2f} |")
    print(f"|   queue wait (created -> started) | {median('queue'):.2f} |")
    print(f"|   runner process (imports, load, train, evaluate, save) | {runner:.2f} |")
    print(f"|   the rest (work folder, registering, finishing, polling) | {median('rest'):.2f} |")
    print(f"|   worker CPU during the run (not the runner) | {median('worker_cpu'):.2f} |")
    print(f"| plain PEFT script, same evaluations on the same samples | {base:.2f} |")
    print(f"RATIO platform / plain = {total / base:.3f} (per run: {', '.join(f'{r:.3f}' for r in ratios)}; goal <= 1.05)")
    print(f"evaluation share (intermediate evaluations / training loop) = {share:.3f} (goal < 0.10)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--case", choices=[*CASES, "all"], default="all")
    parser.add_argument("--runs", type=int, default=3, help="repeats of each pair; medians are reported (default 3)")
    parser.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS for both sides (default: torch's own)")
    parser.add_argument("--dispatch", type=int, default=10, help="dispatch-latency samples (0: skip)")
    args = parser.parse_args()
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the worker's environment, passed to the runner
    setup_django()
    from tests.worker import start_worker, stop_worker, wait_for_worker

    worker = start_worker(name="bench", queues=["training"], concurrency=1)
    results, latencies, idle = [], [], 0.0
    try:
        with tempfile.TemporaryDirectory() as folder:
            user = make_user()
            wait_for_worker(worker, "bench@")
            client = client_for(user)
            # The first task of a fresh worker imports the task code: not a dispatch latency.
            latencies = [dispatch_latency(client) for _ in range(args.dispatch + 1)][1:] if args.dispatch else []
            idle = idle_cpu(worker)
            for name in (CASES if args.case == "all" else [args.case]):
                results.append(run_case(name, client, worker, folder, user, args.runs, args.threads))
    finally:
        stop_worker(worker)
    for result in results:
        report(result, args.runs, args.threads)
    if latencies:
        lat = sorted(latencies)
        print(f"dispatch POST -> running, median of {len(lat)}: {statistics.median(lat) * 1000:.0f} ms "
              f"(max {lat[-1] * 1000:.0f} ms; goal < 200 ms); idle worker CPU {idle * 100:.2f} % of a core")


if __name__ == "__main__":
    main()
