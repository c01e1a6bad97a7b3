from celery import shared_task

from core.jobs import run_job

from .models import VersionImportJob
from .services import import_version


@shared_task(name="registry.import_version")
def import_version_task(job_id):
    return run_job(VersionImportJob, job_id, import_version)
