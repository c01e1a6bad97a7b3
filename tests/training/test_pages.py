import pytest

from training.models import CodeTask, LlmTask

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser_client(client, training_space):
    client.force_login(training_space)
    return client


def test_index_prefills_hyper_parameters_from_config_json(browser_client):
    page = browser_client.get("/training/").content.decode()
    assert "lora_r=8" in page and "learning_rate=1e-4" in page and "/Config/LoRA/config.json" in page
    assert "No runs yet." in page


def test_create_form_queues_a_run_and_shows_its_page(browser_client):
    response = browser_client.post("/training/", {
        "name": "from-the-form", "isPretrain": "0", "fineTuneStrategy": "LoRA", "originModelDir": "Model",
        "inputType": "local", "inputDir": "Data", "hyper": "lora_r=4\nmax_steps=3\n",
    })
    task = LlmTask.objects.get(name="from-the-form")
    assert response.status_code == 302 and response["Location"] == f"/training/tasks/{task.pk}/"
    assert task.hyper_parameters["lora_r"] == 4 and task.hyper_parameters["max_steps"] == 3
    page = browser_client.get(response["Location"]).content.decode()
    assert "loss-chart" in page and 'data-testid="cancel"' in page and f"/api/v1/training/llm-tasks/{task.pk}/metrics" in page
    assert "data-confirm=\"Cancel this fine-tune?" in page
    listing = browser_client.get("/training/").content.decode()
    assert "from-the-form" in listing and "queued" in listing


def test_create_form_shows_errors(browser_client):
    response = browser_client.post("/training/", {"name": "bad", "originModelDir": "Model", "hyper": "epochs=1"}, follow=True)
    assert "unknown hyper-parameter" in response.content.decode()
    assert not LlmTask.objects.exists()


def test_cancel_button_cancels_a_queued_run(browser_client):
    browser_client.post("/training/", {"name": "to-cancel", "originModelDir": "Model", "inputDir": "Data", "hyper": ""})
    task = LlmTask.objects.get()
    browser_client.post(f"/training/tasks/{task.pk}/cancel")
    task.refresh_from_db()
    assert task.status == "cancelled"
    assert "Merge adapter" not in browser_client.get(f"/training/tasks/{task.pk}/").content.decode()


def test_metrics_json_for_the_chart(browser_client):
    browser_client.post("/training/", {"name": "chart", "originModelDir": "Model", "inputDir": "Data", "hyper": ""})
    task = LlmTask.objects.get()
    task.metrics.create(step=1, loss=3.5, learning_rate=0.1)
    data = browser_client.get(f"/api/v1/training/llm-tasks/{task.pk}/metrics").json()
    assert data["metrics"] == [{"step": 1, "epoch": None, "loss": 3.5, "eval_loss": None, "learning_rate": 0.1,
                                "tokens_per_second": None, "time": None}]


def test_code_job_form_and_page(browser_client):
    response = browser_client.post("/training/jobs/new", {"name": "job", "type": "PyTorch", "command": "echo hi", "cpu": 1, "memory": 1})
    task = CodeTask.objects.get()
    assert response["Location"] == f"/training/jobs/{task.pk}/"
    page = browser_client.get(response["Location"]).content.decode()
    assert "echo hi" in page and 'hx-trigger="every 2s"' in page
    partial = browser_client.get(response["Location"], HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in partial and "echo hi" in partial


def test_pages_hide_other_users_tasks(client, training_space, other_user):
    task = LlmTask.objects.create(owner=training_space, name="alices-secret-run", model_source="files", model_ref="Model",
                                  data_source="files", data_ref="Data")
    client.force_login(other_user)
    assert client.get(f"/training/tasks/{task.pk}/").status_code == 404
    assert "alices-secret-run" not in client.get("/training/").content.decode()
    assert client.get(f"/api/v1/training/llm-tasks/{task.pk}/").status_code == 404


def test_pages_need_login(client):
    assert client.get("/training/").status_code == 302
