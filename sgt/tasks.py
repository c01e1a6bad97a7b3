from celery import shared_task

from core.jobs import run_job

from .models import SgtTrainingJob
from .services import run_training


@shared_task(name="sgt.train_model")
def train_model(job_id):
    return run_job(SgtTrainingJob, job_id, run_training)
