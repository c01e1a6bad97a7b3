"""Smoke check of a running `bin/up`: usage `smoke.py BASE_URL UP_LOG`.

Run with the same CRUCIBLE_DATA_DIR (and database settings) as the instance, so that the
seeded diagnostic job can be read from its database. Exits non-zero on the first failure.
"""

import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


class SmokeFailure(Exception):
    pass


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_for(check, timeout, what):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except OSError as exc:  # not listening yet
            last = exc
        time.sleep(1)
    raise SmokeFailure(f"timed out after {timeout}s waiting for {what} (last error: {last})")


def ok(message):
    print(f"  ok  {message}", flush=True)


def check_health(base):
    def live_worker():
        status, body = get(base + "/healthz")
        report = json.loads(body) if status in (200, 503) else {}
        return report if status == 200 and report.get("workers", {}).get("ok") else None

    report = wait_for(live_worker, 300, "/healthz to report a live worker")
    # Anonymous callers see each queue's consumer count (host names are for admins).
    queues = ", ".join(f"{name} {queue['consumers']}" for name, queue in report["queues"].items())
    ok(f"/healthz 200 ({report['status']}): database {report['database']['detail']}, "
       f"broker {report['broker']['detail']}, consumers per queue: {queues}")


def check_banner(log_path):
    def printed():
        text = Path(log_path).read_text(errors="replace")
        return "Crucible is running at http://" in text and re.search(r"login +admin / ", text)

    wait_for(printed, 30, "bin/up to print the URL and the admin login")
    ok("bin/up printed the URL and the logins")


def check_pages(base):
    import django
    from django.urls import NoReverseMatch, reverse

    django.setup()
    paths = ["/", "/api/docs/", "/admin/login/"]
    try:
        paths.insert(1, reverse("accounts:login"))
    except NoReverseMatch:
        print("  --  no accounts:login page yet; checking / only")
    for path in paths:
        status, body = get(base + path)
        if status != 200:
            raise SmokeFailure(f"GET {path} answered {status}")
        ok(f"GET {path} 200")
        if path == "/api/docs/":
            assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', body.decode())
            if not assets:
                raise SmokeFailure("/api/docs/ references no local static files")
            for asset in assets:
                status, _ = get(base + asset)
                if status != 200:
                    raise SmokeFailure(f"GET {asset} answered {status}")
            ok(f"Swagger UI's {len(assets)} static files served locally")


def check_diagnostic_job():
    from core.models import DiagnosticJob, JobStatus

    def finished():
        job = DiagnosticJob.objects.order_by("pk").first()
        return job if job and job.is_finished else None

    job = wait_for(finished, 120, "the seeded diagnostic job to finish")
    if job.status != JobStatus.SUCCEEDED:
        raise SmokeFailure(f"diagnostic job #{job.pk} ended {job.status}: {job.error}")
    ok(f"diagnostic job #{job.pk} succeeded on {job.worker} in {job.duration_seconds:.1f}s")


def main(base, log_path):
    base = base.rstrip("/")
    try:
        check_health(base)
        check_banner(log_path)
        check_pages(base)
        check_diagnostic_job()
    except SmokeFailure as exc:
        print(f"SMOKE FAILED: {exc}", flush=True)
        return 1
    print("smoke run passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
