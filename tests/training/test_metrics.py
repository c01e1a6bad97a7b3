"""Metric rows: a poll with `since` gets only newer rows; detail answers are downsampled; the run page
shows the cadences chosen and the evaluation share."""

import pytest

from training.models import LlmTask, MetricRow

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser_client(client, training_space):
    client.force_login(training_space)
    return client


@pytest.fixture
def run(browser_client):
    browser_client.post("/training/", {"name": "long-run", "base_folder": "Model", "data_folder": "Data", "hyper": ""})
    task = LlmTask.objects.get()
    MetricRow.objects.bulk_create(
        [MetricRow(task=task, step=step, loss=10.0 / step) for step in range(1, 1001)]
        + [MetricRow(task=task, step=step, eval_loss=5.0 / step, eval_blocks=256) for step in range(100, 1001, 100)]
    )
    return task


def test_a_poll_with_since_returns_only_newer_rows(browser_client, run):
    url = f"/api/v1/training/llm-tasks/{run.pk}/metrics"

    newer = browser_client.get(url, {"since": 990}).json()

    assert [(m["step"], m["loss"] is None) for m in newer["metrics"]] == (
        [(step, False) for step in range(991, 1000)] + [(1000, False), (1000, True)]
    )
    # The run is still queued/active: the next poll starts one step earlier, so a row of step 1000
    # logged after this answer (an evaluation) is not missed.
    assert newer["last_step"] == 999 and newer["since"] == 990
    assert browser_client.get(url, {"since": 1000}).json()["metrics"] == []
    assert browser_client.get(url, {"since": "soon"}).status_code == 400


def test_once_finished_the_last_step_is_the_next_since(browser_client, run):
    LlmTask.objects.filter(pk=run.pk).update(status="succeeded")

    data = browser_client.get(f"/api/v1/training/llm-tasks/{run.pk}/metrics", {"since": 998}).json()

    assert data["last_step"] == 1000 and [m["step"] for m in data["metrics"]] == [999, 1000, 1000]


def test_detail_answers_are_downsampled(browser_client, run, training_space):
    from tests.training.conftest import DETAIL, client_for

    chart = browser_client.get(f"/api/v1/training/llm-tasks/{run.pk}/metrics").json()["metrics"]
    detail = client_for(training_space).post(f"{DETAIL}?taskId={run.pk}").json()["data"]["metrics"]

    for rows in (chart, detail):
        losses = [m["step"] for m in rows if m["loss"] is not None]
        evals = [m["step"] for m in rows if m["eval_loss"] is not None]
        assert len(losses) <= 200 and losses[0] == 1 and losses[-1] == 1000
        assert evals == list(range(100, 1001, 100))  # few evaluations: all of them
        assert set(rows[0]) == {"step", "epoch", "loss", "eval_loss", "learning_rate", "grad_norm", "tokens_per_second", "time"}


def test_the_run_page_shows_the_cadences_chosen_and_the_evaluation_share(browser_client, run):
    from training.schedule import plan

    chosen = plan(steps=1000, hyper={"per_device_train_batch_size": 8}, eval_blocks=856)
    LlmTask.objects.filter(pk=run.pk).update(schedule={
        **chosen, "train_seconds": 100.0, "eval_seconds": 4.0, "evaluations": 10, "eval_share": 0.0412,
        "final_eval_seconds": 4.5,
    })

    page = browser_client.get(f"/training/tasks/{run.pk}/").content.decode()

    assert "logging_steps" in page and "1000 steps / at most 200 points per chart" in page
    assert "200 of 856 blocks" in page and "at most 10 evaluations in 1000 steps" in page
    assert 'data-testid="eval-share"' in page and "4.1 % of the training loop" in page
    assert browser_client.get(f"/api/v1/training/llm-tasks/{run.pk}/").json()["schedule"]["eval_steps"] == 91
