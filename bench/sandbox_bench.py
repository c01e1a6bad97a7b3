"""Sandbox overhead: starting a child in the job sandbox against starting it plainly.

    .venv/bin/python bench/sandbox_bench.py [--runs 30]

Both sides start the same command with subprocess and wait for it: `/bin/true` (the bare
cost of the box: namespaces, mounts, setpriv and prlimit) and `python -c "import torch"` (what
a training or evaluation runner pays before its first line of work). The sandboxed side goes
through core.sandbox.prepare, exactly as run_child and the replicas do.
"""

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")

import django  # noqa: E402

django.setup()

from core import sandbox  # noqa: E402
from core.child_process import child_env  # noqa: E402


def run_plain(cmd, work):
    subprocess.run(cmd, cwd=work, env=child_env(), stdin=subprocess.DEVNULL, check=True)


def run_boxed(cmd, work):
    launch = sandbox.prepare(cmd, sandbox.Spec(label="bench:1", writable=[work], cwd=work, env=child_env(),
                                               limits=sandbox.Limits.for_job()))
    try:
        subprocess.run(launch.argv, env=launch.env, pass_fds=launch.pass_fds, preexec_fn=launch.preexec,
                       stdin=subprocess.DEVNULL, check=True)
    finally:
        launch.close()


def timed(fn, cmd, work, runs):
    fn(cmd, work)  # warm the page cache
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn(cmd, work)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), sorted(samples)[int(0.95 * (runs - 1))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    print(f"machine: {platform.node()} {os.cpu_count()} cores, python {platform.python_version()}, "
          f"sandbox: {sandbox.status()}")
    with tempfile.TemporaryDirectory() as work:
        commands = {"true": ["/bin/true"], "import torch": [sys.executable, "-c", "import torch"]}
        print(f"{'command':<14}{'plain p50':>11}{'boxed p50':>11}{'plain p95':>11}{'boxed p95':>11}{'overhead p50':>14}")
        for name, cmd in commands.items():
            plain50, plain95 = timed(run_plain, cmd, work, args.runs)
            boxed50, boxed95 = timed(run_boxed, cmd, work, args.runs)
            print(f"{name:<14}{plain50:>9.1f}ms{boxed50:>9.1f}ms{plain95:>9.1f}ms{boxed95:>9.1f}ms"
                  f"{boxed50 - plain50:>11.1f} ms")


if __name__ == "__main__":
    main()
