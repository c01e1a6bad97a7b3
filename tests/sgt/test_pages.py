import json
import re
from io import StringIO

import numpy as np
import pytest
from django.contrib.auth import get_user_model

from sgt import seed, services
from sgt.models import SgtModel, SgtTrainingJob, TrainChunk

from .conftest import linear_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def trained(user):
    model = services.create_model(user, "alice-sgt", name="line", app_name="lab", model_type="linear_regression",
                                  in_size=1, out_size=1)
    x = np.linspace(-1, 1, 21)
    services.upload_train_data(user, "lab", "line", np.column_stack([x, 2 * x + 1]).tolist(), train=False)
    job = services.train_now(model)
    assert job.status == "succeeded"
    model.refresh_from_db()
    return model


def test_pages_need_a_login(client):
    response = client.get("/sgt/")
    assert response.status_code == 302 and "login" in response["Location"]


def test_my_models_and_public_models(client, user, other_user, trained, alice, bob):
    linear_model(bob, name="bobs-private")
    linear_model(bob, name="bobs-public", is_public=True)
    client.force_login(user)
    page = client.get("/sgt/").content.decode()
    assert "line" in page and "bobs-" not in page and "linear_regression" in page
    public = client.get("/sgt/shared/").content.decode()
    assert "bobs-public" in public and "bobs-private" not in public and "bob-sgt" in public


def test_model_page_chart_and_htmx_run(client, user, trained):
    client.force_login(user)
    page = client.get(f"/sgt/models/{trained.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="sgt-loss-chart"' in html and 'hx-post="/sgt/models/' in html
    history = json.loads(html.split('id="sgt-loss-data" type="application/json">')[1].split("</script>")[0])
    assert history[-1][0] == trained.epochs_trained and history[-1][1] >= 0
    result = client.post(f"/sgt/models/{trained.pk}/run", {"data": "[[0.5], [2]]"}).content.decode()
    assert 'data-testid="run-result"' in result and "errorlist" not in result
    values = [float(v) for v in re.findall(r'<td class="mono">([-0-9.e]+)</td>', result)]
    assert np.allclose(values, [2.0, 5.0], atol=0.05)
    bad = client.post(f"/sgt/models/{trained.pk}/run", {"data": "[[1, 2]]"}).content.decode()
    assert "errorlist" in bad and "1 numbers" in bad
    assert "JSON" in client.post(f"/sgt/models/{trained.pk}/run", {"data": "nope"}).content.decode()


def test_private_models_of_others_are_hidden_and_visibility_is_the_owners(client, other_user, trained):
    client.force_login(other_user)
    assert client.get(f"/sgt/models/{trained.pk}/").status_code == 404
    assert client.post(f"/sgt/models/{trained.pk}/run", {"data": "[[1]]"}).status_code == 404
    services.set_public(trained, True)
    assert client.get(f"/sgt/models/{trained.pk}/").status_code == 200
    assert client.post(f"/sgt/models/{trained.pk}/visibility", {"is_public": "false"}).status_code == 404
    trained.refresh_from_db()
    assert trained.is_public


def test_owner_toggles_visibility(client, user, trained):
    client.force_login(user)
    response = client.post(f"/sgt/models/{trained.pk}/visibility", {"is_public": "true"})
    assert response.status_code == 302
    trained.refresh_from_db()
    assert trained.is_public


def test_admin_lists_every_sgt_model(client, trained):
    admin = get_user_model().objects.create_superuser("root", password="pw-for-admin-123")
    client.force_login(admin)
    for path in ("sgtmodel", "trainchunk", "sgttrainingjob"):
        response = client.get(f"/admin/sgt/{path}/?q=line")
        assert response.status_code == 200, path
        assert "line" in response.content.decode()
    assert client.get(f"/admin/sgt/sgtmodel/{trained.pk}/change/").status_code == 200


def test_seed_is_idempotent_and_trains_the_demo_model(db):
    get_user_model().objects.create_user("researcher", password="x-researcher-pw")
    out = StringIO()
    seed.run(out)
    seed.run(out)
    model = SgtModel.objects.get(app_name="demo", name="line")
    assert model.owner.username == "researcher" and model.is_public and model.is_trained
    assert SgtTrainingJob.objects.count() == 1 and TrainChunk.objects.count() == 1
    assert abs(services.predict_rows(model, [[3.0]])[0][0] - 7.0) < 0.1
    assert "secret_key=" in out.getvalue()
