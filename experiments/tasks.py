from celery import shared_task

from core.jobs import run_job

from . import worker  # noqa: F401  (connects the recovery sweep to worker start)
from .models import ExperimentRun
from .services import execute_run, recover_lost_runs


@shared_task(name="experiments.run_experiment")
def run_experiment(run_id):
    return run_job(ExperimentRun, run_id, execute_run)


@shared_task(name="experiments.recover_lost_runs")
def recover_lost_runs_task():
    return {"recovered": recover_lost_runs()}
