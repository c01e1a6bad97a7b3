"""Celery tasks of the evaluation queue. Thin: core.jobs.run_job around evaluation.execution."""

from celery import shared_task

from core.jobs import run_job

from . import execution
from .models import EvaluationTask


@shared_task(name="evaluation.run_evaluation")
def run_evaluation(task_id):
    return run_job(EvaluationTask, task_id, execution.execute)
