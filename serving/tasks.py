from celery import shared_task

from core.jobs import run_job

from .models import ServingJob
from .services import run_serving_job as run_serving_job_body


@shared_task(name="serving.run_serving_job")
def run_serving_job(job_id):
    return run_job(ServingJob, job_id, run_serving_job_body)
