import time

from celery import shared_task

from .jobs import run_job
from .models import DiagnosticJob
from .services import reap_stale_jobs


@shared_task(name="core.reap_stale_jobs")
def reap_stale_jobs_task():
    failed, requeued = reap_stale_jobs()
    return {"failed": failed, "requeued": requeued}


def _wait(job, handle):
    handle.log(f"waiting {job.seconds:g} s on {handle.model.__name__}")
    steps = max(1, int(job.seconds * 10))
    for step in range(steps):
        time.sleep(job.seconds / steps)
        if step % 10 == 0:
            handle.raise_if_cancelled()
            handle.progress(step / steps)
    handle.log("done")
    return job.seconds


@shared_task(name="core.run_diagnostic_job")
def run_diagnostic_job(job_id):
    return run_job(DiagnosticJob, job_id, _wait)
