"""Celery tasks of the training queue. Thin: admission, then core.jobs.run_job."""

from celery import shared_task

from core.jobs import run_job

from . import execution
from .models import CodeTask, LlmTask
from .services import admit

ADMISSION_RETRY_SECONDS = 5


def _run_when_admitted(model, task_id, task_name, body):
    if not admit(model, task_id, task_name, ADMISSION_RETRY_SECONDS):
        return None
    return run_job(model, task_id, body)


@shared_task(name="training.run_llm_task")
def run_llm_task(task_id):
    return _run_when_admitted(LlmTask, task_id, "training.run_llm_task", execution.execute_llm_task)


@shared_task(name="training.run_code_task")
def run_code_task(task_id):
    return _run_when_admitted(CodeTask, task_id, "training.run_code_task", execution.execute_code_task)


@shared_task(name="training.merge_adapter")
def merge_adapter(task_id):
    return execution.merge_adapter(task_id)
