"""The SGT contract end to end, through HTTP, with training on a real Celery worker."""

import numpy as np
import pytest

from core.models import JobStatus
from sgt import inference
from sgt.model_types import state_dict_numpy
from sgt.models import SgtModel, SgtTrainingJob
from sgt.selectors import read_weights
from tests.worker import wait_until

from .conftest import linear_model

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def wait_trained(client, name, app_name="lab", samples=None):
    def done():
        for model in client.ok("read_my_sgt_model"):
            if model["name"] == name and model["app_name"] == app_name:
                failed = SgtTrainingJob.objects.filter(sgt_model__name=name, status=JobStatus.FAILED).first()
                assert failed is None, failed.log
                # The model turns "trained" just before its job record is marked succeeded.
                active = SgtTrainingJob.objects.filter(
                    sgt_model__name=name, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
                ).exists()
                if model["train_state"] == "trained" and not active and (
                    samples is None or model["sample_count"] == samples
                ):
                    return True
        return False

    wait_until(done, timeout=90, message=f"{name} to be trained")
    (model,) = [m for m in client.ok("read_my_sgt_model") if m["name"] == name and m["app_name"] == app_name]
    return model


def line_rows(n=41):
    x = np.linspace(-2, 2, n)
    return np.column_stack([x, 2 * x + 1]).tolist()


def test_whole_flow_key_create_upload_train_run_share_clone_read_delete(celery_worker, alice, bob):
    linear_model(alice)
    assert alice.ok("upload_sgt_model_train_data", name="line", app_name="lab", train_data=line_rows()) is None
    model = wait_trained(alice, "line", samples=41)
    assert model["epochs"] > 0 and model["last_loss"] < 1e-4

    # The linear model recovered y = 2x + 1: its stored weights and its answers.
    weights = state_dict_numpy(read_weights(SgtModel.objects.get(name="line")))
    assert abs(weights["0.weight"][0][0] - 2.0) < 0.05
    assert abs(weights["0.bias"][0] - 1.0) < 0.05
    out = alice.ok("run_sgt_model", name="line", app_name="lab", data=[[0.0], [3.0], [-10.0]])
    assert np.allclose(out, [[1.0], [7.0], [-19.0]], atol=0.1)

    # More rows: appended, trained again from the current weights.
    alice.ok("upload_sgt_model_train_data", name="line", app_name="lab", train_data=[[5.0, 11.0], [-5.0, -9.0]])
    model = wait_trained(alice, "line", samples=43)
    db_model = SgtModel.objects.get(name="line")
    assert db_model.weights_version == 2 and len(db_model.loss_history) >= 2
    assert SgtTrainingJob.objects.filter(sgt_model=db_model, status=JobStatus.SUCCEEDED).count() == 2

    # Bob sees nothing until Alice makes it public.
    assert bob.ok("read_public_sgt_model") == []
    bob.error("clone_sgt_model_to_mine", "NotFoundException", new_name="my-line", app_name="lab",
              author_unique_id="alice-sgt", name="line")
    alice.ok("update_sgt_model_client_data", name="line", app_name="lab", client_data={"v": 2}, is_public=True)
    (public,) = bob.ok("read_public_sgt_model")
    assert public["user_unique_id"] == "alice-sgt" and public["client_data"] == {"v": 2}

    assert bob.ok("clone_sgt_model_to_mine", new_name="my-line", app_name="lab", author_unique_id="alice-sgt",
                  name="line") is None
    (clone,) = bob.ok("read_my_sgt_model")
    assert clone["user_unique_id"] == "bob-sgt" and clone["name"] == "my-line" and clone["is_public"] is False
    assert clone["train_state"] == "trained" and clone["sample_count"] == 43
    assert bob.ok("run_sgt_model", name="my-line", app_name="lab", data=[[3.0]]) == alice.ok(
        "run_sgt_model", name="line", app_name="lab", data=[[3.0]]
    )

    # Deleting Alice's model leaves Bob's copy (weights and data are his own).
    assert alice.ok("delete_sgt_model", name="line", app_name="lab") is None
    assert alice.ok("read_my_sgt_model") == []
    assert bob.ok("read_public_sgt_model") == []
    alice.error("run_sgt_model", "NotFoundException", name="line", app_name="lab", data=[[3.0]])
    out = bob.ok("run_sgt_model", name="my-line", app_name="lab", data=[[1.0]])
    assert abs(out[0][0] - 3.0) < 0.1
    bob.ok("upload_sgt_model_train_data", name="my-line", app_name="lab", train_data=[[1.0, 3.0]])
    assert wait_trained(bob, "my-line", samples=44)["epochs"] > clone["epochs"]


def test_mlp_classifier_learns_xor(celery_worker, alice):
    alice.ok("create_sgt_model", name="xor", app_name="lab", model_type="mlp_classification", in_size=2, out_size=2)
    rows = [[0, 0, 0], [0, 1, 1], [1, 0, 1], [1, 1, 0]]  # inputs, then the class index
    alice.ok("upload_sgt_model_train_data", name="xor", app_name="lab", train_data=rows)
    wait_trained(alice, "xor")
    probabilities = np.array(alice.ok("run_sgt_model", name="xor", app_name="lab", data=[r[:2] for r in rows]))
    assert probabilities.shape == (4, 2)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert probabilities.argmax(axis=1).tolist() == [0, 1, 1, 0]  # 100% accuracy
    assert probabilities.max(axis=1).min() > 0.9


def test_repeated_runs_use_the_cached_network(celery_worker, alice):
    alice.ok("create_sgt_model", name="reg", app_name="lab", model_type="mlp_regression", in_size=3, out_size=2)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3))
    y = np.column_stack([x.sum(axis=1), x[:, 0] - x[:, 1]])
    alice.ok("upload_sgt_model_train_data", name="reg", app_name="lab", train_data=np.hstack([x, y]).tolist())
    wait_trained(alice, "reg")
    inference.cache.clear()
    first = alice.ok("run_sgt_model", name="reg", app_name="lab", data=x[:5].tolist())
    model = SgtModel.objects.get(name="reg")
    assert inference.cache.get((model.pk, model.weights_version)) is not None
    assert np.array(first).shape == (5, 2)
    assert alice.ok("run_sgt_model", name="reg", app_name="lab", data=x[:5].tolist()) == first
