import json

import pytest

from accounts.services import create_api_key


class SgtClient:
    """Calls /sgt/public/<endpoint> with a key in the body, like an SGT client."""

    def __init__(self, api_client, secret_id="", secret_key=""):
        self.client = api_client
        self.secret_id = secret_id
        self.secret_key = secret_key

    def raw(self, endpoint, body, content_type="application/json"):
        return self.client.generic("POST", f"/sgt/public/{endpoint}", body, content_type=content_type)

    def call(self, endpoint, **fields):
        body = {"secret_id": self.secret_id, "secret_key": self.secret_key, **fields}
        return self.raw(endpoint, json.dumps(body))

    def ok(self, endpoint, **fields):
        response = self.call(endpoint, **fields)
        assert response.status_code == 200, response.content
        return json.loads(response.content)

    def error(self, endpoint, exception, **fields):
        response = self.call(endpoint, **fields)
        return assert_sgt_error(response, exception)


def assert_sgt_error(response, exception):
    assert response.status_code == 400, response.content
    body = json.loads(response.content)
    assert set(body) == {"exception", "message"}, body
    assert body["exception"] == exception, body
    assert body["message"]
    return body


def client_for(user, api_client_factory, secret_id):
    _, secret_key = create_api_key(user, secret_id=secret_id)
    return SgtClient(api_client_factory(), secret_id, secret_key)


@pytest.fixture
def alice(user):
    from rest_framework.test import APIClient

    return client_for(user, APIClient, "alice-sgt")


@pytest.fixture
def bob(other_user):
    from rest_framework.test import APIClient

    return client_for(other_user, APIClient, "bob-sgt")


def linear_model(client, name="line", app_name="lab", **extra):
    fields = dict(name=name, app_name=app_name, model_type="linear_regression", in_size=1, out_size=1,
                  client_data={"note": "y = 2x + 1"}, is_public=False)
    fields.update(extra)
    assert client.ok("create_sgt_model", **fields) is None
