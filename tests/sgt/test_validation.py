"""Every bad input answers 400 {"exception", "message"} with the right exception type."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import ApiKey
from accounts.services import create_api_key, revoke_api_key
from sgt import services
from sgt.models import SgtModel, TrainChunk

from .conftest import SgtClient, assert_sgt_error, linear_model

pytestmark = pytest.mark.django_db


def test_list_model_type_names_the_real_types(api_client):
    response = SgtClient(api_client).raw("list_model_type", "{}")
    assert response.status_code == 200
    assert json.loads(response.content) == [
        "linear_regression", "logistic_regression", "mlp_regression", "mlp_classification"
    ]


@pytest.mark.parametrize(
    "secret_id, secret_key", [("", ""), ("alice-sgt", "wrong-secret-key-123456"), ("nobody", "x" * 20), (3, [])]
)
def test_bad_credentials_are_refused(alice, secret_id, secret_key):
    client = SgtClient(alice.client, secret_id, secret_key)
    assert_sgt_error(client.call("read_my_sgt_model"), "AuthException")


def test_expired_and_revoked_keys_are_refused(user, api_client):
    key, secret = create_api_key(user, secret_id="short-lived", end_time=timezone.now() + timedelta(hours=1))
    client = SgtClient(api_client, "short-lived", secret)
    assert client.ok("read_my_sgt_model") == []
    ApiKey.objects.filter(pk=key.pk).update(end_time=timezone.now() - timedelta(seconds=1))
    client.error("read_my_sgt_model", "AuthException")
    ApiKey.objects.filter(pk=key.pk).update(end_time=None)
    assert client.ok("read_my_sgt_model") == []
    revoke_api_key(user, "short-lived")
    client.error("create_sgt_model", "AuthException", name="m", app_name="a", model_type="linear_regression",
                 in_size=1, out_size=1)
    assert not SgtModel.objects.exists()


@pytest.mark.parametrize(
    "body, content_type",
    [("{not json", "application/json"), ("[1, 2]", "application/json"), ('"text"', "application/json"),
     ("secret_id=a&secret_key=b", "application/x-www-form-urlencoded")],
)
def test_non_json_or_non_object_bodies(alice, body, content_type):
    assert_sgt_error(alice.raw("read_my_sgt_model", body, content_type), "ValidationException")


def test_get_is_not_the_contract(alice):
    response = alice.client.get("/sgt/public/read_my_sgt_model")
    assert response.status_code == 400
    assert json.loads(response.content)["exception"] == "MethodException"


def test_too_large_body_is_refused_before_parsing(alice, settings):
    from sgt import compat

    settings.SGT_MAX_BODY_BYTES = 1000
    linear_model(alice)
    alice.error("upload_sgt_model_train_data", "TooLargeException", name="line", app_name="lab",
                train_data=[[1.0, 3.0]] * 200)


BASE = dict(name="m1", app_name="app", model_type="mlp_regression", in_size=3, out_size=2)


@pytest.mark.parametrize(
    "change",
    [
        {"name": ""}, {"name": "x" * 65}, {"name": "bad name"}, {"name": "../etc"}, {"name": 12},
        {"app_name": "a/b"}, {"app_name": None},
        {"in_size": 0}, {"in_size": 1025}, {"in_size": True}, {"in_size": 2.5}, {"out_size": "many"},
        {"out_size": -1}, {"model_type": "transformer"}, {"model_type": None}, {"is_public": "maybe"},
    ],
)
def test_create_validates_fields(alice, change):
    alice.error("create_sgt_model", "ValidationException", **{**BASE, **change})
    assert not SgtModel.objects.exists()


def test_create_requires_fields(alice):
    body = alice.error("create_sgt_model", "ValidationException", name="m1", app_name="app")
    assert "model_type" in body["message"]


def test_create_keeps_client_data_and_refuses_duplicates(alice, bob):
    data = {"layout": [1, 2, {"deep": None}], "名字": "模型"}
    assert alice.ok("create_sgt_model", **BASE, client_data=data, is_public=True) is None
    alice.error("create_sgt_model", "ConflictException", **BASE)
    # The same name in another app, or for another user, is fine.
    assert alice.ok("create_sgt_model", **{**BASE, "app_name": "other"}) is None
    assert bob.ok("create_sgt_model", **BASE) is None
    (mine,) = [m for m in alice.ok("read_my_sgt_model") if m["app_name"] == "app"]
    assert mine["client_data"] == data
    assert mine == {
        "user_unique_id": "alice-sgt", "name": "m1", "client_data": data, "app_name": "app",
        "model_type": "mlp_regression", "in_size": 3, "out_size": 2, "is_public": True,
        "train_state": "untrained", "sample_count": 0, "last_loss": None, "epochs": 0,
    }


def test_client_data_size_is_limited(alice, settings):
    settings.SGT_MAX_CLIENT_DATA_BYTES = 100
    alice.error("create_sgt_model", "TooLargeException", **BASE, client_data="x" * 200)
    linear_model(alice, client_data="small")
    alice.error("update_sgt_model_client_data", "TooLargeException", name="line", app_name="lab",
                client_data=["y" * 200])


def test_update_client_data_and_visibility_only_of_own_models(alice, bob):
    linear_model(alice)
    assert alice.ok("update_sgt_model_client_data", name="line", app_name="lab", client_data=[1, "two"]) is None
    bob.error("update_sgt_model_client_data", "NotFoundException", name="line", app_name="lab", client_data=None)
    bob.error("delete_sgt_model", "NotFoundException", name="line", app_name="lab")
    alice.error("update_sgt_model_client_data", "ValidationException", name="line", app_name="lab")
    assert alice.ok("update_sgt_model_client_data", name="line", app_name="lab", is_public=True) is None
    (model,) = alice.ok("read_my_sgt_model")
    assert model["client_data"] == [1, "two"] and model["is_public"] is True
    assert bob.ok("read_my_sgt_model") == []


@pytest.mark.parametrize(
    "train_data, exception",
    [
        ([], "ValidationException"),
        ([1.0, 3.0], "ValidationException"),
        ([[1.0, 3.0], [2.0]], "ValidationException"),  # ragged
        ([[1.0, 3.0, 4.0]], "ValidationException"),  # wrong width
        ([[1.0]], "ValidationException"),
        ([[1.0, "3"]], "ValidationException"),  # a string is not a number
        ([[1.0, None]], "ValidationException"),
        ([[True, 3.0]], "ValidationException"),
        ([[1e39, 3.0]], "ValidationException"),  # beyond float32
        ([[10**400, 3.0]], "ValidationException"),
        ("1,3", "ValidationException"),
    ],
)
def test_upload_rejects_bad_rows(alice, train_data, exception):
    linear_model(alice)
    alice.error("upload_sgt_model_train_data", exception, name="line", app_name="lab", train_data=train_data)
    assert not TrainChunk.objects.exists()


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_upload_rejects_nan_and_infinity(alice, literal):
    linear_model(alice)
    body = ('{"secret_id": "%s", "secret_key": "%s", "name": "line", "app_name": "lab", '
            '"train_data": [[1.0, %s]]}') % (alice.secret_id, alice.secret_key, literal)
    assert_sgt_error(alice.raw("upload_sgt_model_train_data", body), "ValidationException")
    assert not TrainChunk.objects.exists()


def test_upload_limits_rows_per_request_and_per_model(alice, settings):
    linear_model(alice)
    settings.SGT_MAX_UPLOAD_ROWS = 10
    alice.error("upload_sgt_model_train_data", "TooLargeException", name="line", app_name="lab",
                train_data=[[1.0, 3.0]] * 11)
    settings.SGT_MAX_MODEL_ROWS = 15
    assert alice.ok("upload_sgt_model_train_data", name="line", app_name="lab", train_data=[[1.0, 3.0]] * 10) is None
    alice.error("upload_sgt_model_train_data", "TooLargeException", name="line", app_name="lab",
                train_data=[[1.0, 3.0]] * 6)
    (model,) = alice.ok("read_my_sgt_model")
    assert model["sample_count"] == 10
    assert model["train_state"] == "queued"


def test_upload_to_missing_or_foreign_model(alice, bob):
    linear_model(alice)
    bob.error("upload_sgt_model_train_data", "NotFoundException", name="line", app_name="lab",
              train_data=[[1.0, 3.0]])
    alice.error("upload_sgt_model_train_data", "NotFoundException", name="nope", app_name="lab",
                train_data=[[1.0, 3.0]])


def test_classification_labels_index_or_one_hot(alice):
    alice.ok("create_sgt_model", name="cls", app_name="lab", model_type="logistic_regression", in_size=2, out_size=3)
    ok = dict(name="cls", app_name="lab")
    assert alice.ok("upload_sgt_model_train_data", **ok, train_data=[[0.5, 1.0, 2], [1.0, 0.0, 0]]) is None
    assert alice.ok("upload_sgt_model_train_data", **ok, train_data=[[0.5, 1.0, 0, 1, 0]]) is None
    for bad in ([[0.5, 1.0, 3]], [[0.5, 1.0, 1.5]], [[0.5, 1.0, -1]], [[0.5, 1.0, 1, 1, 0]],
                [[0.5, 1.0, 0.5, 0.7, -0.2]], [[0.5, 1.0, 0, 1]]):
        alice.error("upload_sgt_model_train_data", "ValidationException", **ok, train_data=bad)
    model = SgtModel.objects.get(name="cls")
    from sgt.selectors import training_rows

    rows = training_rows(model)
    assert rows.tolist() == [[0.5, 1.0, 0, 0, 1], [1.0, 0.0, 1, 0, 0], [0.5, 1.0, 0, 1, 0]]
    assert model.training_jobs.count() == 1  # one queued job serves both uploads


def test_run_untrained_and_bad_inputs(alice, bob):
    linear_model(alice)
    body = alice.error("run_sgt_model", "NotTrainedException", name="line", app_name="lab", data=[[1.0]])
    assert "not been trained" in body["message"]
    for bad in ([[1.0, 2.0]], [1.0], [], [["1"]], [[1.0], [2.0, 3.0]]):
        alice.error("run_sgt_model", "ValidationException", name="line", app_name="lab", data=bad)
    bob.error("run_sgt_model", "NotFoundException", name="line", app_name="lab", data=[[1.0]])
    alice.error("run_sgt_model", "ValidationException", name="line", app_name="lab")


def test_clone_refuses_private_models_of_others_as_not_found(alice, bob):
    linear_model(alice)
    body = bob.error("clone_sgt_model_to_mine", "NotFoundException", new_name="mine", app_name="lab",
                     author_unique_id="alice-sgt", name="line")
    assert "alice-sgt" in body["message"]
    bob.error("clone_sgt_model_to_mine", "NotFoundException", new_name="mine", app_name="lab",
              author_unique_id="nobody", name="line")
    bob.error("clone_sgt_model_to_mine", "ValidationException", new_name="bad name", app_name="lab",
              author_unique_id="alice-sgt", name="line")
    # Her own private model she may clone; onto an existing name she may not.
    assert alice.ok("clone_sgt_model_to_mine", new_name="line2", app_name="lab", author_unique_id="alice-sgt",
                    name="line") is None
    alice.error("clone_sgt_model_to_mine", "ConflictException", new_name="line2", app_name="lab",
                author_unique_id="alice-sgt", name="line")
    assert SgtModel.objects.filter(owner__username="bob").count() == 0


def test_unexpected_failure_is_a_400_with_a_generic_message(alice, monkeypatch):
    def broken(user):
        raise RuntimeError("database on fire")

    monkeypatch.setattr("sgt.selectors.models_of", broken)
    body = alice.error("read_my_sgt_model", "InternalException")
    assert "fire" not in body["message"]
