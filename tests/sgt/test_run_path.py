"""run_sgt_model's hot path: key and model read fresh in one statement, no write per request, the
network cached by weights version."""

from datetime import timedelta

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import ApiKey
from accounts.services import revoke_api_key
from sgt import inference, services
from sgt.models import SgtModel

from .conftest import linear_model

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_network_cache():
    """These tests roll back, so the next test may get the same model id and weights version: leave no
    network behind in the process-wide cache (ids are never reused outside tests)."""
    inference.cache.clear()
    yield
    inference.cache.clear()


def trained_line(alice, user):
    linear_model(alice)
    x = np.linspace(-2, 2, 21)
    services.upload_train_data(user, "lab", "line", np.column_stack([x, 2 * x + 1]).tolist(), train=False)
    services.train_now(SgtModel.objects.get(name="line"))


def test_a_run_reads_once_and_writes_nothing_within_a_minute(alice, user):
    trained_line(alice, user)
    alice.ok("run_sgt_model", name="line", app_name="lab", data=[[1.0]])  # records the key's use, loads the network
    used = ApiKey.objects.get(secret_id="alice-sgt").last_used_at

    with CaptureQueriesContext(connection) as queries:
        out = alice.ok("run_sgt_model", name="line", app_name="lab", data=[[0.0], [3.0]])

    assert np.allclose(out, [[1.0], [7.0]], atol=0.2)
    assert len(queries.captured_queries) == 1 and queries.captured_queries[0]["sql"].lstrip().upper().startswith("SELECT")
    assert ApiKey.objects.get(secret_id="alice-sgt").last_used_at == used

    ApiKey.objects.filter(secret_id="alice-sgt").update(last_used_at=timezone.now() - timedelta(minutes=2))
    alice.ok("run_sgt_model", name="line", app_name="lab", data=[[0.0]])
    assert ApiKey.objects.get(secret_id="alice-sgt").last_used_at > used


def test_key_and_model_changes_are_seen_at_the_next_request(alice, bob, user):
    trained_line(alice, user)
    assert alice.ok("run_sgt_model", name="line", app_name="lab", data=[[0.0]])
    key = ApiKey.objects.get(secret_id="alice-sgt")

    key.end_time = timezone.now() - timedelta(seconds=1)
    key.save()
    alice.error("run_sgt_model", "AuthException", name="line", app_name="lab", data=[[0.0]])
    ApiKey.objects.filter(pk=key.pk).update(end_time=None)
    user.is_active = False
    user.save()
    alice.error("run_sgt_model", "AuthException", name="line", app_name="lab", data=[[0.0]])
    user.is_active = True
    user.save()

    # Retrained on other rows: the new weights answer at once (the cache is keyed by weights version).
    model = SgtModel.objects.get(name="line")
    model.chunks.all().delete()
    x = np.linspace(-2, 2, 21)
    services.upload_train_data(user, "lab", "line", np.column_stack([x, -x]).tolist(), train=False)
    services.train_now(SgtModel.objects.get(name="line"))
    assert np.allclose(alice.ok("run_sgt_model", name="line", app_name="lab", data=[[2.0]]), [[-2.0]], atol=0.2)

    bob.error("run_sgt_model", "NotFoundException", name="line", app_name="lab", data=[[0.0]])
    alice.error("run_sgt_model", "ValidationException", name="line", app_name="lab", data=[[0.0, 1.0]])
    alice.error("run_sgt_model", "ValidationException", name="line", app_name="lab")  # data missing
    revoke_api_key(user, "alice-sgt")
    alice.error("run_sgt_model", "AuthException", name="line", app_name="lab", data=[[0.0]])
