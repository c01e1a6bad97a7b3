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
        "name": "from-the-form", "pretrain": "0", "strategy": "LoRA", "base_folder": "Model",
        "data_kind": "local", "data_folder": "Data", "hyper": "lora_r=4\nmax_steps=3\n",
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
    response = browser_client.post("/training/", {"name": "bad", "base_folder": "Model", "hyper": "epochs=1"}, follow=True)
    assert "unknown hyper-parameter" in response.content.decode()
    assert not LlmTask.objects.exists()


def test_cancel_button_cancels_a_queued_run(browser_client):
    browser_client.post("/training/", {"name": "to-cancel", "base_folder": "Model", "data_folder": "Data", "hyper": ""})
    task = LlmTask.objects.get()
    browser_client.post(f"/training/tasks/{task.pk}/cancel")
    task.refresh_from_db()
    assert task.status == "cancelled"
    assert "Merge adapter" not in browser_client.get(f"/training/tasks/{task.pk}/").content.decode()


def test_metrics_json_for_the_chart(browser_client):
    browser_client.post("/training/", {"name": "chart", "base_folder": "Model", "data_folder": "Data", "hyper": ""})
    task = LlmTask.objects.get()
    task.metrics.create(step=1, loss=3.5, learning_rate=0.1, grad_norm=1.25)
    data = browser_client.get(f"/api/v1/training/llm-tasks/{task.pk}/metrics").json()
    assert data["metrics"] == [{"step": 1, "epoch": None, "loss": 3.5, "eval_loss": None, "learning_rate": 0.1,
                                "grad_norm": 1.25, "tokens_per_second": None, "time": None}]


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


def test_the_form_picks_the_registry_version_keeps_what_was_typed_and_names_no_api_field(browser_client, user, tiny_model_dir):
    from registry.services import register_training_result

    version = register_training_result(owner=user, application_name="base", folder=tiny_model_dir)
    page = browser_client.get(f"/training/?version={version.uid}").content.decode()
    assert f'name="base_version" value="{version.uid}"' in page
    assert f'<option value="{version.uid}">base 0.0.1</option>' in page and 'list="version-choices"' in page
    assert 'hx-get="/training/hyper-defaults"' in page and "data-navigate-param" not in page
    # A bad hyper-parameter is named by its line, not by the API's field, and the form keeps its values.
    response = browser_client.post("/training/", {"name": "typed-name", "base_version": version.uid, "data_folder": "Data",
                                                  "hyper": "# comment\nlearning_rate=fast"})
    html = response.content.decode()
    assert response.status_code == 200 and "learning_rate: &#x27;fast&#x27; is not a number" in html
    assert "commonHyperParameters" not in html and 'value="typed-name"' in html
    # Messages that name the API's fields are put in the form's words.
    from training.pages import page_message

    assert page_message("hyper-parameter lora_r: too long", {"lora_r": 5}) == "hyper-parameters line 5: lora_r: too long"
    assert page_message("base_folder: /Model has no config.json", {}) == "Model folder: /Model has no config.json"
    # Switching the strategy fetches only the hyper-parameter field.
    field = browser_client.get("/training/hyper-defaults", {"strategy": "Full"}, HTTP_HX_REQUEST="true")
    assert field.content.decode().lstrip().startswith('<div class="field" id="hyper-field">')


def test_runs_compare_on_one_chart_and_others_runs_stay_out(browser_client, user, other_user):
    from training.models import LlmTask

    mine = [LlmTask.objects.create(owner=user, name=f"run-{i}", model_source="hub", model_ref="crucible/tiny-gpt2",
                                   data_source="files", data_ref="Data") for i in range(2)]
    theirs = LlmTask.objects.create(owner=other_user, name="bobs-run", model_source="hub", model_ref="x/y",
                                    data_source="files", data_ref="Data")
    for task, loss in zip(mine, (2.0, 1.0)):
        task.metrics.create(step=1, loss=loss)
    page = browser_client.get("/training/compare", {"task": [mine[0].pk, mine[1].pk, theirs.pk]}).content.decode()
    assert "run-0 (#" in page and "run-1 (#" in page and "bobs-run" not in page
    assert 'id="compare-data"' in page and "[[1, 2.0, null]]" in page


def test_a_run_and_its_result_show_where_they_came_from_by_name(browser_client, user, tiny_model_dir):
    from registry.services import register_training_result
    from training.models import LlmTask

    base = register_training_result(owner=user, application_name="base-model", folder=tiny_model_dir)
    task = LlmTask.objects.create(owner=user, name="tuned", model_source="registry", model_ref=base.uid,
                                  data_source="files", data_ref="Data")
    result = register_training_result(owner=user, application_name="tuned", folder=tiny_model_dir,
                                       training_task_id=task.pk)
    page = browser_client.get(f"/training/tasks/{task.pk}/").content.decode()
    assert f'<a href="/registry/{base.application.uid}/">base-model 0.0.1</a>' in page
    assert '<a href="/files/private/Data">/Data</a>' in page and base.uid not in page.split("data-testid=\"base-model\"")[1][:200]
    registry = browser_client.get(f"/registry/{result.application.uid}/").content.decode()
    assert f'href="/training/tasks/{task.pk}/" data-testid="origin-task">tuned</a>' in registry
    assert f'<a href="/registry/{base.application.uid}/">base-model 0.0.1</a>' in registry
    assert f'href="/evaluation/version/{result.uid}/"' in registry
