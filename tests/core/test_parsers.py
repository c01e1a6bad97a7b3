"""One JSON parser for every body (core.parsers): deep nesting, invalid JSON and NaN are a
400 in the endpoint's own envelope, never a 500."""

import pytest
from django.test import Client

from core.errors import InvalidInput
from core.parsers import parse_json
from experiments.models import SIMULATOR_DRIVER, Furnace

pytestmark = pytest.mark.django_db

DEEP = "[" * 50_000 + "]" * 50_000
JSON = "application/json"


def test_parse_json_limits_depth_without_recursing(settings):
    settings.JSON_MAX_DEPTH = 4
    assert parse_json(b'{"a": [[{"b": 1}]]}') == {"a": [[{"b": 1}]]}
    for text in ('{"a": [[{"b": [1]}]]}', "[[[[[]]]]]", DEEP, '{"a":' * 5000 + "1" + "}" * 5000):
        with pytest.raises(InvalidInput, match="deeper than 4"):
            parse_json(text)


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"x": -Infinity}'])
def test_nan_and_infinity_are_refused_unless_allowed(text):
    with pytest.raises(InvalidInput, match="not valid JSON"):
        parse_json(text)
    assert parse_json(text, allow_nan=True) is not None


@pytest.mark.parametrize("raw", [b"\xff\xfe", b"{", b'{"a": 1,}', b"", b"'x'"])
def test_invalid_json_is_invalid_input(raw):
    with pytest.raises(InvalidInput):
        parse_json(raw)


def test_deep_nesting_to_the_login_facades_is_a_400_in_their_envelope(api_client, user):
    hub = api_client.post("/api/login", DEEP, content_type=JSON)
    assert hub.status_code == 400, hub.content[:300]
    assert hub.json()["code"] == 400 and "deeper than 64" in hub.json()["msg"]

    token = api_client.post("/api/v1/auth/token/", DEEP, content_type=JSON)
    assert token.status_code == 400 and "deeper than 64" in token.json()["detail"]

    sgt = api_client.post("/sgt/private/update_auth_token", DEEP, content_type=JSON)
    assert sgt.status_code == 400, sgt.content[:300]


def test_nan_and_broken_json_through_the_clean_api(auth_client):
    for body in ('{"name": NaN}', '{"name": "x"', '{"a":' * 100 + "1" + "}" * 100):
        response = auth_client.post("/api/v1/experiments/validate", body, content_type=JSON)
        assert response.status_code == 400, (body[:20], response.content[:300])
        assert "JSON parse error" in response.json()["message"]  # the experiments envelope


def test_the_chat_page_reads_its_body_through_the_same_parser(user, password):
    client = Client()
    client.force_login(user)
    response = client.post("/chat/send", DEEP, content_type=JSON)
    assert response.status_code == 400 and "deeper than 64" in response.json()["msg"]
    response = client.post("/chat/send", '{"content": NaN}', content_type=JSON)
    assert response.status_code == 400 and "NaN" in response.json()["msg"]


@pytest.mark.parametrize("time_unit", [["min"], {"a": 1}, 5, True])
def test_type_confusion_in_experiment_parameters_is_a_400(auth_client, time_unit):
    Furnace.objects.create(name="test-furnace", driver=SIMULATOR_DRIVER, is_default=True)
    body = {"Parameters": {"time_unit": time_unit, "A": "S", "Substrate": "SiO2/Si"}}
    response = auth_client.post("/api/v1/experiments/validate", body, format="json")
    assert response.status_code == 400, response.content[:500]
    assert "time_unit" in str(response.json())


def test_lone_surrogates_are_refused_anywhere_in_the_body(api_client):
    with pytest.raises(InvalidInput, match="surrogate"):
        parse_json('{"a": [{"\\ud800": 1}]}')
    assert parse_json('{"emoji": "\\ud83d\\ude00"}') == {"emoji": "\U0001f600"}  # a proper pair is fine
    response = api_client.post(
        "/sgt/public/check_auth_token", '{"secret_id": "abc", "secret_key": "\\udfff"}', content_type=JSON
    )
    assert response.status_code == 400, response.content[:300]


@pytest.mark.parametrize("key", ["é" * 20, "ключ-системы", "\u202e" * 3])
def test_a_non_ascii_system_key_is_a_400_not_a_500(api_client, key):
    body = {"key": key, "secret_id": "lab-key", "secret_key": "x" * 24}
    response = api_client.post("/sgt/private/update_auth_token", body, format="json")
    assert response.status_code == 400, response.content[:300]
    assert "key" in str(response.json())


def test_a_nul_character_is_a_400_in_a_body_or_a_query_string_never_a_500(auth_client):
    """PostgreSQL cannot store NUL in text: it is refused at the edge, in bodies and in queries."""
    body = auth_client.patch("/api/v1/me/", data='{"note": "a\\u0000b"}', content_type="application/json")
    assert body.status_code == 400 and "NUL" in str(body.json())
    query = auth_client.get("/api/v1/hub/repos?search=a%00b")
    assert query.status_code == 400 and "NUL" in query.json()["detail"]
    # Each API answers it in its own envelope: the hub spec's, SGT's, OpenAI's, the HF API's.
    hub = auth_client.get("/modelList?name=a%00b")
    assert hub.status_code == 400 and hub.json()["code"] == 400 and "NUL" in hub.json()["msg"]
    openai = auth_client.get("/v1/models?x=%00")
    assert openai.status_code == 400 and "NUL" in openai.json()["error"]["message"]
    hf = auth_client.get("/api/models/alice/anything?x=%00")
    assert hf.status_code == 400 and "NUL" in hf.json()["error"]
    page = auth_client.get("/hub/?q=%00")
    assert page.status_code == 400 and "NUL" in page.json()["detail"]
    assert auth_client.patch("/api/v1/me/", data="null", content_type="application/json").status_code == 400
