"""The platform-api.md section 7 facades without a worker: validation, envelopes, paging, scoping."""

from datetime import timedelta

import pytest
from django.utils import timezone

from evaluation.models import EvaluationTask
from evaluation.selectors import run_time

from .conftest import CREATE, DETAIL, PAGE, client_for, create, upload_tree
from .factories import EvaluationTaskFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_space(user):
    upload_tree(user, {
        "Model/config.json": b"{}",
        "Data/test/test.jsonl": b'{"text": "hello"}\n',
        "NoTest/train/train.jsonl": b'{"text": "hello"}\n',
        "Script/eval.py": b"print(1)\n",
    })
    return user


def error_of(response, status):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False and body["code"] == status and body["data"] is None
    return body["message"]


def test_create_builtin_answers_in_the_eval_envelope_and_records_the_task(small_space, auth_client):
    response = create(auth_client, modelType="local", modelDir="/Model", inputType="local", inputDir="/Data",
                      metrics=["ppl", "loss"], image="ignored:latest", command="", env=[{"A": "1"}],
                      resourceGroupId="rg-1", resourceGroupName="cpu", description="first")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["success"] is True and body["code"] == 200 and body["status"] == 200
    assert body["message"] == "创建模型评估任务成功"
    task = EvaluationTask.objects.get(uid=body["data"]["id"])
    assert task.owner.username == "alice" and task.kind == "builtin" and task.queue == "evaluation"
    assert task.metrics == ["loss", "perplexity"] and task.model_ref == "Model" and task.data_ref == "Data"
    assert task.env == {"A": "1"} and task.output_dir == "Evaluations/run" and task.cpu == 1 and task.memory_gb == 4
    assert task.task_name.startswith("evaluation.")


@pytest.mark.parametrize("fields, status, text", [
    ({"modelType": "local", "modelDir": "/Nowhere", "inputDir": "/Data", "metrics": ["loss"]}, 404, "model missing"),
    ({"modelType": "aiApp", "aiAppVersionId": "999999", "inputDir": "/Data", "metrics": ["loss"]}, 404, "model missing"),
    ({"modelType": "aiApp", "inputDir": "/Data", "metrics": ["loss"]}, 400, "aiAppVersionId is required"),
    ({"inputDir": "/Data", "metrics": ["loss"]}, 400, "model missing"),
    ({"modelDir": "/Data", "inputDir": "/Data", "metrics": ["loss"]}, 400, "no config.json"),
    ({"modelDir": "/Model", "inputDir": "/Missing", "metrics": ["loss"]}, 404, "dataset missing"),
    ({"modelDir": "/Model", "inputDir": "/NoTest", "metrics": ["loss"]}, 400, "NoTest/test has no"),
    ({"modelDir": "/Model", "inputType": "dataset", "datasetName": "alice/none", "metrics": ["loss"]}, 404, "dataset missing"),
    ({"modelDir": "/Model", "metrics": ["loss"]}, 400, "dataset missing"),
    ({"modelDir": "/Model", "inputDir": "/Data", "metrics": ["loss", "meteor"]}, 400, "unknown metric 'meteor'"),
    ({"modelDir": "/Model", "inputDir": "/Data", "metrics": "bogus"}, 400, "unknown metric"),
    ({"modelDir": "/Model", "inputDir": "/Data"}, 400, "give either metrics"),
    ({"modelDir": "/Model", "inputDir": "/Data", "metrics": ["loss"], "outputDir": ""}, 400, "outputDir"),
    ({"modelDir": "/Model", "inputDir": "/../etc", "metrics": ["loss"]}, 400, "'..' is not allowed"),
    ({"modelType": "cloud", "modelDir": "/Model", "inputDir": "/Data", "metrics": ["loss"]}, 400, "modelType"),
    ({"modelDir": "/Model", "inputDir": "/Data", "metrics": ["loss"], "maxNewTokens": 0}, 400, "maxNewTokens"),
    ({"modelDir": "/Model", "inputDir": "/Data", "metrics": ["loss"], "resource": {"cpuNumber": 999}}, 403, "over quota"),
    ({"command": "python eval.py", "workDir": "/Nope"}, 400, "workDir"),
    ({"command": "python eval.py", "env": [{"PATH": "/x"}]}, 400, "PATH may not be set"),
    ({"command": "python eval.py", "userId": "someone-else"}, 403, "userId"),
])
def test_bad_requests_are_4xx_with_a_clear_message(small_space, auth_client, fields, status, text):
    message = error_of(create(auth_client, **fields), status)
    assert text in message
    assert not EvaluationTask.objects.exists()


def test_create_needs_authentication(api_client):
    assert error_of(api_client.post(CREATE, {}, format="json"), 401)


def test_custom_script_task_is_created_without_model_or_dataset(small_space, auth_client):
    response = create(auth_client, command="python eval.py --out $output_dir", workDir="/Script", image="python:3.11")
    assert response.status_code == 200, response.content
    task = EvaluationTask.objects.get()
    assert task.kind == "custom" and task.work_dir == "Script" and task.model_source == "" and task.metrics == []


def test_page_lists_own_tasks_with_spec_fields_status_words_and_filters(user, other_user, auth_client):
    now = timezone.now()
    done = EvaluationTaskFactory(owner=user, name="alpha run", status="succeeded", started_at=now - timedelta(seconds=50),
                                 finished_at=now, description="d")
    EvaluationTaskFactory(owner=user, name="beta run", status="failed")
    EvaluationTaskFactory(owner=user, name="gamma")
    EvaluationTaskFactory(owner=other_user, name="bob's run", status="succeeded")
    body = auth_client.post(PAGE, {"userId": "", "status": "", "taskName": ""}, format="json").json()
    assert body["success"] is True and body["code"] == 200
    data = body["data"]
    assert data["total"] == 3 and data["pageNum"] == 1 and data["pageSize"] == 10 and data["totalPage"] == 1
    assert {row["name"] for row in data["rows"]} == {"alpha run", "beta run", "gamma"}
    row = next(r for r in data["rows"] if r["name"] == "alpha run")
    assert row == {"id": str(done.uid), "name": "alpha run", "status": "Succeeded", "runTime": "50秒", "description": "d",
                   "creatorId": str(user.pk), "createTime": timezone.localtime(done.created_at).strftime("%Y-%m-%d %H:%M:%S")}
    filtered = auth_client.post(PAGE, {"status": "Succeeded", "taskName": "run"}, format="json").json()["data"]
    assert [r["name"] for r in filtered["rows"]] == ["alpha run"]
    paged = auth_client.post(PAGE, {"pageNum": 2, "pageSize": 2}, format="json").json()["data"]
    assert paged["totalPage"] == 2 and len(paged["rows"]) == 1
    assert "status" in error_of(auth_client.post(PAGE, {"status": "Exploded"}, format="json"), 400)
    assert error_of(auth_client.post(PAGE, {"userId": str(user.pk + 1000)}, format="json"), 403)


def test_detail_has_the_spec_fields_and_hides_other_users_tasks(user, other_user, auth_client):
    mine = EvaluationTaskFactory(owner=user, command="python run.py", image="img:1", resource_group_name="gpu46",
                                 env={"A": "1"}, results={"perplexity": 12.5})
    theirs = EvaluationTaskFactory(owner=other_user)
    body = auth_client.get(f"{DETAIL}{mine.uid}").json()
    assert body["success"] is True and body["code"] == 200
    data = body["data"]
    for field in ("id", "name", "status", "resourceGroupId", "resourceGroupName", "command", "createTime", "endTime",
                  "image", "runTime", "resource", "inputType", "inputDir", "datasetId", "datasetName", "modelType",
                  "modelDir", "aiAppVersionId", "aiAppVersionName", "outputDir", "description", "env", "workDir"):
        assert field in data, field
    assert data["id"] == str(mine.uid) and data["status"] == "Pending" and data["modelDir"] == "/Model"
    assert data["env"] == '[{"A": "1"}]' and data["resource"]["gpuResource"]["gpuNum"] == 0
    assert data["results"] == {"perplexity": 12.5}
    assert auth_client.get(f"{DETAIL}{mine.pk}").json()["data"]["id"] == str(mine.uid)
    assert "not found" in error_of(auth_client.get(f"{DETAIL}{theirs.uid}"), 404)
    assert error_of(auth_client.get(f"{DETAIL}not-an-id"), 400)
    listing = client_for(other_user).post(PAGE, {}, format="json").json()["data"]
    assert [row["id"] for row in listing["rows"]] == [str(theirs.uid)]
    # The clean API and the pages scope the same way.
    assert auth_client.get(f"/api/v1/evaluation/tasks/{theirs.pk}/").status_code == 404
    assert auth_client.get(f"/api/v1/evaluation/compare?tasks={theirs.pk}").status_code == 404


@pytest.mark.parametrize("seconds, text", [(0, "0秒"), (50, "50秒"), (3281, "54分41秒"), (7384, "2小时3分4秒"),
                                           (93784, "1天2小时3分4秒")])
def test_run_time_reads_like_the_spec(seconds, text):
    now = timezone.now()
    task = EvaluationTask(started_at=now - timedelta(seconds=seconds), finished_at=now)
    assert run_time(task) == text


def test_comparison_api_and_page_put_tasks_side_by_side(user, client, auth_client):
    first = EvaluationTaskFactory(owner=user, name="base", status="succeeded", results={"perplexity": 40.0, "bleu": 10.0})
    second = EvaluationTaskFactory(owner=user, name="tuned", status="succeeded", results={"perplexity": 20.0, "bleu": 12.0})
    data = auth_client.get(f"/api/v1/evaluation/compare?tasks={first.pk},{second.pk}").json()
    assert [c["name"] for c in data["columns"]] == ["base", "tuned"]
    rows = {row["metric"]: row for row in data["rows"]}
    assert rows["perplexity"]["values"] == [40.0, 20.0] and rows["perplexity"]["best"] == 20.0
    assert rows["bleu"]["best"] == 12.0
    assert auth_client.get("/api/v1/evaluation/compare").status_code == 400
    client.force_login(user)
    page = client.get(f"/evaluation/compare/?tasks={first.pk},{second.pk}")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="comparison"' in html and "<strong>20.0000</strong>" in html
    assert html.count('data-testid="compare-chart"') == 2  # one chart per metric, each on its own scale
    assert client.get("/evaluation/").status_code == 200
    assert client.get(f"/evaluation/tasks/{first.pk}/").status_code == 200


def test_create_form_queues_an_evaluation_and_shows_errors(small_space, client):
    client.force_login(small_space)
    form = {"name": "from-form", "kind": "builtin", "model_from": "files", "model_dir": "Model", "data_from": "files",
            "data_dir": "Data", "output_dir": "Evaluations/form", "metrics": ["perplexity", "loss"]}
    response = client.post("/evaluation/", form)
    task = EvaluationTask.objects.get(name="from-form")
    assert response.status_code == 302 and response["Location"] == f"/evaluation/tasks/{task.pk}/"
    assert task.metrics == ["loss", "perplexity"]
    page = client.post("/evaluation/", {**form, "name": "broken", "model_dir": "Nowhere"})
    assert page.status_code == 200 and "model missing" in page.content.decode()
    assert not EvaluationTask.objects.filter(name="broken").exists()
    listing = client.get("/evaluation/").content.decode()
    assert "from-form" in listing


def test_admin_lists_and_searches_evaluations(user, client):
    from tests.factories import UserFactory

    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    task = EvaluationTaskFactory(owner=user, name="searchable", results={"bleu": 1.0})
    from .factories import MetricValueFactory

    MetricValueFactory(task=task, name="bleu", value=1.0)
    client.force_login(admin)
    assert "searchable" in client.get("/admin/evaluation/evaluationtask/?q=searchable&status__exact=queued").content.decode()
    assert client.get(f"/admin/evaluation/evaluationtask/{task.pk}/change/").status_code == 200
    assert "bleu" in client.get("/admin/evaluation/metricvalue/?q=bleu").content.decode()


def test_seed_writes_demo_files_and_is_idempotent(db):
    import io

    from evaluation import seed
    from files.selectors import get_node
    from tests.factories import UserFactory

    researcher = UserFactory(username="researcher")
    out = io.StringIO()
    seed.run(out)
    seed.run(out)
    assert get_node(researcher, "private", "Evaluation/qa/test/qa.jsonl") is not None
    assert get_node(researcher, "private", "Evaluation/script/evaluate.py") is not None
    assert "4 demo files written" in out.getvalue() and "0 demo files written" in out.getvalue()


def test_pages_answer_bad_filters_and_unknown_ids_without_errors(user, other_user, client):
    theirs = EvaluationTaskFactory(owner=other_user, status="succeeded", results={"bleu": 1.0})
    client.force_login(user)
    page = client.get("/evaluation/?status=Exploded")
    assert page.status_code == 200 and "status: one of" in page.content.decode()
    assert client.get(f"/evaluation/tasks/{theirs.pk}/").status_code == 404
    assert client.get("/evaluation/version/999999/").status_code == 404
    compare = client.get(f"/evaluation/compare/?tasks={theirs.pk}").content.decode()
    assert 'data-testid="compare-error"' in compare and "not found" in compare


def test_the_task_page_shows_kept_metrics_and_the_one_that_failed(user, client):
    task = EvaluationTaskFactory(owner=user, status="succeeded", results={"perplexity": 12.5},
                                 details={"records": 2, "failed_metrics": {"bleu": "no records with input and reference"}})
    client.force_login(user)
    html = client.get(f"/evaluation/tasks/{task.pk}/").content.decode()
    assert "12.500000" in html and "No results yet" not in html
    assert 'data-testid="failed-metric"' in html and "no records with input and reference" in html


def test_the_form_starts_from_the_chosen_registry_version_with_pickers(small_space, client, tiny_model_dir):
    from registry.services import register_training_result

    version = register_training_result(owner=small_space, application_name="to-evaluate", folder=tiny_model_dir)
    client.force_login(small_space)
    page = client.get(f"/evaluation/?version={version.uid}").content.decode()
    assert f'name="version" value="{version.uid}"' in page and 'value="registry" selected' in page
    assert f'<option value="{version.uid}">to-evaluate 0.0.1</option>' in page and '<option value="Data">' in page
    # Without ?version= the newest imported version is the default, so the form starts as filled.
    assert f'name="version" value="{version.uid}"' in client.get("/evaluation/").content.decode()
    bad = client.post("/evaluation/", {"name": "bad", "kind": "builtin", "model_from": "registry",
                                       "version": "f" * 32, "data_from": "files", "data_dir": "Data",
                                       "metrics": ["loss"]}).content.decode()
    assert 'data-testid="form-error"' in bad and "aiAppVersionId" not in bad.split('data-testid="form-error"')[1][:300]
