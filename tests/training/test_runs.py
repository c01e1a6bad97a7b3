"""Real runs through the API and a real worker: the child process trains the tiny GPT-2."""

import tempfile
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from registry.models import AiApplicationVersion
from registry.selectors import materialize_version
from training.models import LlmTask
from training.selectors import task_dir

from .conftest import DETAIL, create_task, hyper, wait_status

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

# About 14 blocks of 32 tokens in batches of 4: 24 steps are 6 epochs over the same data.
FAST = [hyper("learning_rate", "0.02"), hyper("max_steps", 24), hyper("save_steps", 10), hyper("logging_steps", 1),
        hyper("max_seq_length", 32), hyper("eval_steps", 12), hyper("per_device_train_batch_size", 4)]


def generate(folder_or_model, tokenizer_folder):
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_folder)
    model = folder_or_model
    ids = tokenizer("The river", return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=8, do_sample=False, pad_token_id=tokenizer.eos_token_id)
    assert out.shape[1] > ids["input_ids"].shape[1]
    return tokenizer.decode(out[0])


def losses(task):
    return [row.loss for row in task.metrics.exclude(loss=None).order_by("step")]


def assert_learned(task):
    """The mean training loss of the last epoch is below that of the first (same data each epoch)."""
    rows = list(task.metrics.exclude(loss=None).order_by("step"))
    assert len(rows) >= 12, [r.loss for r in rows]
    last_epoch = rows[-1].epoch
    first = [r.loss for r in rows if r.epoch <= 1.0]
    last = [r.loss for r in rows if r.epoch > last_epoch - 1.0]
    assert sum(last) / len(last) < sum(first) / len(first), [(r.epoch, r.loss) for r in rows]
    assert task.metrics.exclude(eval_loss=None).exists()
    assert task.metrics.exclude(tokens_per_second=None).exists()


def test_lora_fine_tune_trains_checkpoints_registers_and_merges(training_space, auth_client, celery_worker, stop_tasks_after):
    response = create_task(auth_client, fineTuneStrategy="LoRA", commonHyperParameters=FAST,
                           fineTuneHyperParameters=[hyper("lora_r", 8), hyper("merge_adapter", "true")],
                           outputDir="/Results/lora")
    assert response.status_code == 200, response.content
    task = LlmTask.objects.get(pk=response.json()["data"]["taskId"])
    wait_status(task, ["succeeded", "failed", "cancelled"])
    assert task.status == "succeeded", task.log + task.error
    assert task.progress == 1.0 and task.current_step == 24 and task.total_steps == 24
    assert_learned(task)
    assert task.checkpoints == ["checkpoint-10", "checkpoint-20", "checkpoint-24"]
    assert (task_dir(task) / "checkpoints" / "checkpoint-20" / "adapter_model.safetensors").exists()
    assert "LoRA r=8" in task.log and "registered the result as registry version" in task.log

    version = AiApplicationVersion.objects.get(pk=task.produced_version_id)
    assert version.source == 1 and version.application.owner == task.owner
    with tempfile.TemporaryDirectory() as tmp:
        adapter = materialize_version(version, Path(tmp) / "adapter")
        assert (adapter / "adapter_config.json").exists()
        from peft import PeftModel

        base = AutoModelForCausalLM.from_pretrained(task_dir(task) / "base_model")
        model = PeftModel.from_pretrained(base, adapter)
        generate(model, adapter)
        merged = AiApplicationVersion.objects.get(pk=task.merged_version_id)
        full = materialize_version(merged, Path(tmp) / "merged")
        generate(AutoModelForCausalLM.from_pretrained(full), full)

    detail = auth_client.post(f"{DETAIL}?taskId={task.pk}").json()["data"]
    assert detail["status"] == "succeeded" and detail["producedVersionId"] == version.uid
    assert len(detail["metrics"]) == task.metrics.count() and detail["checkpoints"] == task.checkpoints
    assert "resuming" not in detail["log"]
    produced = auth_client.post("/kernel/fineTuneManage/listFineTuneTaskManage", {"isPretrain": 0}, format="json").json()
    assert produced["data"]["list"][0]["modelVersionId"] == version.uid
    assert produced["data"]["list"][0]["source"] == 1
    # outputDir: the adapter is in the private space too.
    from files.selectors import get_file

    assert get_file(task.owner, "private", "Results/lora/adapter_model.safetensors").size > 0


def test_full_fine_tune_trains_all_weights_and_registers_a_model(training_space, auth_client, celery_worker, stop_tasks_after):
    response = create_task(auth_client, fineTuneStrategy="FineTune",
                           commonHyperParameters=[*FAST, hyper("learning_rate", "0.005")])
    task = LlmTask.objects.get(pk=response.json()["data"]["taskId"])
    wait_status(task, ["succeeded", "failed", "cancelled"])
    assert task.status == "succeeded", task.log + task.error
    assert_learned(task)
    assert "LoRA" not in task.log
    version = AiApplicationVersion.objects.get(pk=task.produced_version_id)
    with tempfile.TemporaryDirectory() as tmp:
        folder = materialize_version(version, tmp)
        assert (folder / "model.safetensors").exists() and not (folder / "adapter_config.json").exists()
        generate(AutoModelForCausalLM.from_pretrained(folder), folder)


def test_pretraining_from_config_learns_and_registers(training_space, auth_client, celery_worker, stop_tasks_after):
    response = create_task(auth_client, isPretrain=1, commonHyperParameters=[*FAST, hyper("learning_rate", "0.005")])
    task = LlmTask.objects.get(pk=response.json()["data"]["taskId"])
    wait_status(task, ["succeeded", "failed", "cancelled"])
    assert task.status == "succeeded", task.log + task.error
    assert "weights initialised at random" in task.log
    assert_learned(task)
    # From random weights, the first loss is about ln(vocabulary size).
    assert losses(task)[0] > 6
    version = AiApplicationVersion.objects.get(pk=task.produced_version_id)
    listing = auth_client.post("/kernel/fineTuneManage/listFineTuneTaskManage", {"isPretrain": 1}, format="json").json()
    assert [row["taskId"] for row in listing["data"]["list"]] == [str(task.pk)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = materialize_version(version, tmp)
        generate(AutoModelForCausalLM.from_pretrained(folder), folder)


def test_cancel_stops_a_running_run_within_10_seconds(training_space, auth_client, celery_worker, stop_tasks_after):
    import time

    response = create_task(auth_client, commonHyperParameters=[hyper("max_steps", 100000), hyper("save_strategy", "no")])
    task = LlmTask.objects.get(pk=response.json()["data"]["taskId"])
    from tests.worker import wait_until

    wait_until(lambda: task.metrics.exists(), timeout=180, message="training to log a step")
    started = time.monotonic()
    cancelled = auth_client.post(f"/api/v1/training/llm-tasks/{task.pk}/cancel")
    assert cancelled.status_code == 200
    wait_status(task, ["cancelled", "failed", "succeeded"], timeout=10)
    assert time.monotonic() - started < 10
    assert task.status == "cancelled"
    assert "training process was stopped" in task.error or "cancel" in task.log
    steps = task.metrics.count()
    time.sleep(2)
    assert task.metrics.count() == steps  # nothing trains on


def test_one_click_merge_registers_a_full_model(training_space, auth_client, celery_worker, stop_tasks_after):
    response = create_task(auth_client, commonHyperParameters=[hyper("max_steps", 3), hyper("max_seq_length", 32)])
    task = LlmTask.objects.get(pk=response.json()["data"]["taskId"])
    wait_status(task, ["succeeded", "failed", "cancelled"])
    assert task.status == "succeeded" and task.merged_version_id is None, task.log + task.error
    merged = auth_client.post(f"/api/v1/training/llm-tasks/{task.pk}/merge")
    assert merged.status_code == 202 and merged.json()["merge_status"] == "running"
    assert auth_client.post(f"/api/v1/training/llm-tasks/{task.pk}/merge").status_code == 409
    from tests.worker import wait_until

    wait_until(lambda: LlmTask.objects.get(pk=task.pk).merge_status in ("done", "failed"), timeout=120, message="merge")
    task.refresh_from_db()
    assert task.merge_status == "done", task.merge_error
    version = AiApplicationVersion.objects.get(pk=task.merged_version_id)
    assert version.source == 1 and version.application_id == AiApplicationVersion.objects.get(pk=task.produced_version_id).application_id
    with tempfile.TemporaryDirectory() as tmp:
        folder = materialize_version(version, tmp)
        assert not (folder / "adapter_config.json").exists()
        generate(AutoModelForCausalLM.from_pretrained(folder), folder)
