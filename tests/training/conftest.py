import json
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from rest_framework.test import APIClient

from core.models import ACTIVE_STATUSES
from core.services import request_cancel
from files import services as files
from hub.tiny_models import build_tiny_gpt2, corpus_lines
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
    files.save_file(user, "private", path, ContentFile(text.encode("utf-8"), name=Path(path).name))


def jsonl(rows):
    return "".join(json.dumps(row) + "\n" for row in rows)


@pytest.fixture
def training_space(user, tiny_model_dir):
    """alice's private space in the platform layout: Model/, Data/train|validate|test, Config/LoRA."""
    for path in sorted(Path(tiny_model_dir).iterdir()):
        files.save_file(user, "private", f"Model/{path.name}", ContentFile(path.read_bytes(), name=path.name))
    lines = corpus_lines()
    save_text(user, "Data/train/part-1.jsonl", jsonl({"text": line} for line in lines[:12]))
    save_text(
        user, "Data/train/instructions.jsonl",
        jsonl({"instruction": "Continue the sentence.", "input": line[:20], "output": line[20:]} for line in lines[12:16]),
    )
    save_text(user, "Data/train/notes.txt", "\n".join(lines[16:20]))
    save_text(user, "Data/validate/validate.jsonl", jsonl({"text": line} for line in lines[20:]))
    save_text(user, "Data/test/test.jsonl", jsonl({"text": line} for line in lines[20:]))
    config = {
        "commonHyperParameters": [hyper("learning_rate", "1e-4"), hyper("num_train_epochs", "1")],
        "fineTuneHyperParameters": [hyper("lora_alpha", "16"), hyper("lora_r", "8"), hyper("lora_dropout", "0.05")],
        "fineTuneStrategy": "LoRA",
    }
    save_text(user, "Config/LoRA/config.json", json.dumps(config))
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
