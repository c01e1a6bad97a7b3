"""SGT benchmark: run latency through the HTTP endpoint and training throughput.

    .venv/bin/python bench/sgt_bench.py [--rows 10000] [--runs 200]

Uses the test settings (a temporary data folder and SQLite database, migrated here).
Run latency goes through POST /sgt/public/run_sgt_model with Django's test client
(URL routing, JSON parsing, key check, model lookup, cached network, JSON answer); the
in-process service call (predict_rows, no HTTP or key check) is shown beside it.
Training runs in this process through the same job body a worker runs.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
import torch  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from accounts.services import create_api_key  # noqa: E402
from sgt import services  # noqa: E402
from tests.factories import UserFactory  # noqa: E402

IN_SIZE, OUT_SIZE = 8, 4


def p50_ms(fn, runs):
    fn()  # warm: loads the network into the cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000, help="training rows")
    parser.add_argument("--runs", type=int, default=200, help="timed runs per case")
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    user = UserFactory(username="bench")
    _, secret_key = create_api_key(user, secret_id="bench-key")
    rng = np.random.default_rng(0)
    results = []
    for model_type in ("linear_regression", "mlp_regression"):
        services.create_model(user, "bench-key", name=model_type, app_name="bench", model_type=model_type,
                              in_size=IN_SIZE, out_size=OUT_SIZE)
        x = rng.normal(size=(args.rows, IN_SIZE))
        y = np.column_stack([np.sin(x[:, i]) + x[:, i + 1] for i in range(OUT_SIZE)])
        rows = np.hstack([x, y]).tolist()
        for start in range(0, len(rows), settings.SGT_MAX_UPLOAD_ROWS):
            services.upload_train_data(user, "bench", model_type, rows[start : start + settings.SGT_MAX_UPLOAD_ROWS],
                                       train=False)
        model = services.get_own_model(user, "bench", model_type)
        job = services.train_now(model)
        rows_per_second = job.samples * job.epochs / job.seconds

        client = Client()

        def http_run(data):
            body = json.dumps({"secret_id": "bench-key", "secret_key": secret_key, "name": model_type,
                               "app_name": "bench", "data": data})
            response = client.post("/sgt/public/run_sgt_model", body, content_type="application/json")
            assert response.status_code == 200, response.content

        one = x[:1].tolist()
        thousand = x[:1000].tolist()
        results.append({
            "model": f"{model_type} {IN_SIZE}->{OUT_SIZE}",
            "train": f"{job.samples} rows x {job.epochs} epochs in {job.seconds:.2f} s, "
                     f"loss {job.final_loss:.4g}",
            "rows_per_s": rows_per_second,
            "http_1": p50_ms(lambda: http_run(one), args.runs),
            "http_1000": p50_ms(lambda: http_run(thousand), max(20, args.runs // 4)),
            "service_1": p50_ms(lambda: services.predict_rows(model, one), args.runs),
            "service_1000": p50_ms(lambda: services.predict_rows(model, thousand), max(20, args.runs // 4)),
        })

    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print("| model | training | training rows/s | run p50, 1 row (HTTP / service) "
          "| run p50, 1,000 rows (HTTP / service) |")
    print("|---|---|---|---|---|")
    for r in results:
        print(f"| {r['model']} | {r['train']} | {r['rows_per_s']:,.0f} | {r['http_1']:.2f} / {r['service_1']:.2f} ms "
              f"| {r['http_1000']:.2f} / {r['service_1000']:.2f} ms |")


if __name__ == "__main__":
    main()
