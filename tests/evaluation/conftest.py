import json
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from core.models import ACTIVE_STATUSES
from core.services import request_cancel
from evaluation.models import EvaluationTask
from hub.tiny_models import build_tiny_gpt2
from tests.factories import upload_tree
from tests.worker import wait_until

CREATE = "/model/evaluation/task/create"
PAGE = "/model/evaluation/task/page"
DETAIL = "/api/model/evaluation/task/detail/"

# A small domain the tiny model's corpus does not cover: the fine-tune learns it.
SAMPLES = ["A", "B", "C", "D", "E", "F", "G", "H", "J", "K", "L", "M"]
TEMPERATURES = [300, 350, 400, 450, 500, 550]


def domain_line(index):
    sample = SAMPLES[index % len(SAMPLES)]
    temperature = TEMPERATURES[(index * 5) % len(TEMPERATURES)]
    hours = 1 + index % 4
    return f"Sample {sample} was annealed at {temperature} C for {hours} hours in argon, and its grain size grew."


def jsonl(rows):
    return "".join(json.dumps(row) + "\n" for row in rows)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    return build_tiny_gpt2(tmp_path_factory.mktemp("evaluation-tiny-gpt2"))


@pytest.fixture
def eval_space(user, tiny_model_dir):
    """alice's space: Model/ (the tiny GPT-2) and Domain/train|validate|test (annealing notes)."""
    contents = {f"Model/{path.name}": path.read_bytes() for path in sorted(Path(tiny_model_dir).iterdir())}
    texts = {
        "Domain/train/notes.jsonl": jsonl({"text": domain_line(i)} for i in range(0, 24)),
        "Domain/validate/notes.jsonl": jsonl({"text": domain_line(i)} for i in range(24, 27)),
        "Domain/test/notes.jsonl": jsonl({"text": domain_line(i)} for i in range(27, 33)),
    }
    contents.update({path: text.encode() for path, text in texts.items()})
    upload_tree(user, contents)
    return user


def client_for(user):
    from accounts.services import issue_tokens

    client = APIClient()
    access, _ = issue_tokens(user)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def create(client, **fields):
    body = {"name": "eval", "outputDir": "/Evaluations/run", "resource": {"cpuNumber": 1, "memory": 4}}
    body.update(fields)
    return client.post(CREATE, body, format="json")


def refreshed(task):
    task.refresh_from_db()
    return task


def wait_finished(task, timeout=240):
    wait_until(lambda: refreshed(task).is_finished, timeout=timeout,
               message=f"evaluation {task.pk} to finish (log: {task.log[-2000:]})")
    return task


@pytest.fixture
def stop_evaluations_after():
    yield
    for task in EvaluationTask.objects.filter(status__in=ACTIVE_STATUSES):
        request_cancel(task)
    wait_until(lambda: not EvaluationTask.objects.filter(status__in=ACTIVE_STATUSES).exists(), timeout=60,
               message="evaluations to end")
