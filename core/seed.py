"""A diagnostic job, so that a new install shows a job going through a real worker."""

from django.contrib.auth import get_user_model

from .models import DiagnosticJob
from .services import enqueue_job

DEMO_JOB_SECONDS = 2.0


def run(stdout):
    job = DiagnosticJob.objects.order_by("created_at").first()
    if job is None:
        owner = get_user_model().objects.filter(is_superuser=True).order_by("pk").first()
        job = DiagnosticJob.objects.create(owner=owner, seconds=DEMO_JOB_SECONDS)
        enqueue_job(job)
        stdout.write(f"Diagnostic job #{job.pk} submitted: a worker should run it within seconds.")
    else:
        stdout.write(f"Diagnostic job #{job.pk}: {job.status}.")
