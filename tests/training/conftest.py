import json
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from core.models import ACTIVE_STATUSES
from core.services import request_cancel
from hub.tiny_models import build_tiny_gpt2, corpus_lines
from tests.factories import upload_tree
from tests.worker import wait_until
from training.models import CodeTask, LlmTask

CREATE = "/kernel/fineTune/createLlmFineTuneTask"
DETAIL = "/kernel/fineTune/queryLlmFineTuneTaskDetail"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A tiny GPT-2 with its tokenizer, built once for the session."""
    return build_tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"))


def hyper(name, value):
    return {"name": name, "value": str(value), "description": ""}


def save_text(user, path, text):
    upload_tree(user, {path: text.encode("utf-8")})


def jsonl(rows):
    return "".join(json.dumps(row) + "\n" for row in rows)


@pytest.fixture
def training_space(user, tiny_model_dir):
    """alice's private space in the platform layout: Model/, Data/train|validate|test, Config/LoRA."""
    contents = {f"Model/{path.name}": path.read_bytes() for path in sorted(Path(tiny_model_dir).iterdir())}
    lines = corpus_lines()
    config = {
        "commonHyperParameters": [hyper("learning_rate", "1e-4"), hyper("num_train_epochs", "1")],
        "fineTuneHyperParameters": [hyper("lora_alpha", "16"), hyper("lora_r", "8"), hyper("lora_dropout", "0.05")],
        "fineTuneStrategy": "LoRA",
    }
    texts = {
        "Data/train/part-1.jsonl": jsonl({"text": line} for line in lines[:12]),
        "Data/train/instructions.jsonl": jsonl(
            {"instruction": "Continue the sentence.", "input": line[:20], "output": line[20:]} for line in lines[12:16]
        ),
        "Data/train/notes.txt": "\n".join(lines[16:20]),
        "Data/validate/validate.jsonl": jsonl({"text": line} for line in lines[20:]),
        "Data/test/test.jsonl": jsonl({"text": line} for line in lines[20:]),
        "Config/LoRA/config.json": json.dumps(config),
    }
    contents.update({path: text.encode("utf-8") for path, text in texts.items()})
    upload_tree(user, contents)
    return user


def client_for(user):
    from accounts.services import issue_tokens

    client = APIClient()
    access, _ = issue_tokens(user)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def create_task(client, **fields):
    body = {"name": "tiny-run", "originModelDir": "/Model", "inputType": "local", "inputDir": "/Data"}
    body.update(fields)
    return client.post(CREATE, body, format="json")


def refreshed(task):
    task.refresh_from_db()
    return task


def wait_status(task, statuses, timeout=180):
    statuses = statuses if isinstance(statuses, (list, tuple, set)) else [statuses]
    wait_until(lambda: refreshed(task).status in statuses, timeout=timeout,
               message=f"task {task.pk} to reach {statuses} (log: {task.log[-2000:]})")
    return task


@pytest.fixture
def stop_tasks_after():
    """Leave no task running for the next test."""
    yield
    for model in (LlmTask, CodeTask):
        for task in model.objects.filter(status__in=ACTIVE_STATUSES):
            request_cancel(task)
    wait_until(
        lambda: not any(m.objects.filter(status__in=ACTIVE_STATUSES).exists() for m in (LlmTask, CodeTask)),
        timeout=60, message="tasks to end",
    )
