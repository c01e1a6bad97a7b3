"""SGT from the pages alone: create a model, add rows from a CSV file, train on the worker, run,
share and clone (the same services as the SGT API)."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from core.models import JobStatus
from sgt.models import SgtModel, SgtTrainingJob
from tests.worker import wait_until

from .conftest import linear_model

LINE_CSV = "x,y\n" + "".join(f"{x / 10},{2 * x / 10 + 1}\n" for x in range(-20, 21))


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_alice_creates_trains_and_runs_a_model_from_the_pages(celery_worker, client, user):
    client.force_login(user)
    response = client.post("/sgt/", {"app_name": "lab", "name": "line", "model_type": "linear_regression",
                                      "in_size": 1, "out_size": 1})
    model = SgtModel.objects.get(owner=user, name="line")
    assert response.status_code == 302 and response["Location"] == f"/sgt/models/{model.pk}/"
    assert model.user_unique_id == "alice" and not model.is_public

    upload = SimpleUploadedFile("line.csv", LINE_CSV.encode(), content_type="text/csv")
    response = client.post(f"/sgt/models/{model.pk}/data", {"file": upload, "train": "on"}, follow=True)
    assert "Added 41 rows; training is queued." in response.content.decode()
    status = client.get(f"/sgt/models/{model.pk}/status", HTTP_HX_REQUEST="true")
    assert 'hx-trigger="every 2s"' in status.content.decode() or status["HX-Refresh"] == "true"

    def trained():
        job = SgtTrainingJob.objects.filter(sgt_model=model).first()
        return job is not None and job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED)

    wait_until(trained, timeout=90, message="the page's training job")
    assert SgtTrainingJob.objects.get(sgt_model=model).status == JobStatus.SUCCEEDED
    finished = client.get(f"/sgt/models/{model.pk}/status", HTTP_HX_REQUEST="true")
    assert finished["HX-Refresh"] == "true" and "hx-trigger" not in finished.content.decode()
    page = client.get(f"/sgt/models/{model.pk}/").content.decode()
    assert 'id="sgt-loss-chart"' in page and "41 training rows" in page
    result = client.post(f"/sgt/models/{model.pk}/run", {"data": "[[1.0]]"}).content.decode()
    answer = float(result.split('<td class="mono">')[1].split("<")[0])
    assert abs(answer - 3.0) < 0.01  # y = 2x + 1, learned from the CSV rows


@pytest.mark.django_db
def test_bad_rows_are_explained_and_nothing_is_added(client, user, alice):
    linear_model(alice)
    model = SgtModel.objects.get(owner=user, name="line")
    client.force_login(user)
    page = client.post(f"/sgt/models/{model.pk}/data", {"rows": "x,y\n1,2\nthree,4\n"}, follow=True)
    assert "line 3 holds something that is not a number" in page.content.decode()
    page = client.post(f"/sgt/models/{model.pk}/data", {"rows": "[[1, 2, 3]]"}, follow=True)
    assert "train_data rows must have 2 numbers" in page.content.decode()
    model.refresh_from_db()
    assert model.sample_count == 0 and not SgtTrainingJob.objects.exists()


@pytest.mark.django_db
def test_bob_clones_alices_public_model_but_not_her_private_one(client, user, other_user, alice):
    linear_model(alice, name="shared", is_public=True)
    linear_model(alice, name="secret")
    shared = SgtModel.objects.get(name="shared")
    secret = SgtModel.objects.get(name="secret")
    client.force_login(other_user)
    assert 'data-testid="sgt-clone-form"' in client.get(f"/sgt/models/{shared.pk}/").content.decode()
    response = client.post(f"/sgt/models/{shared.pk}/clone", {"new_name": "mine"})
    copy = SgtModel.objects.get(owner=other_user, name="mine")
    assert response["Location"] == f"/sgt/models/{copy.pk}/"
    assert copy.app_name == "lab" and not copy.is_public and copy.client_data == json.loads('{"note": "y = 2x + 1"}')
    assert client.post(f"/sgt/models/{secret.pk}/clone", {"new_name": "stolen"}).status_code == 404
    assert client.post(f"/sgt/models/{shared.pk}/data", {"rows": "1,2"}).status_code == 404
    assert not SgtModel.objects.filter(owner=other_user, name="stolen").exists()
