from celery import shared_task

from core.jobs import run_job

from .models import ImageImportJob
from .services import run_import


@shared_task(name="images.import_image")
def import_image(job_id):
    return run_job(ImageImportJob, job_id, run_import)
