"""chat-api.md under /myapp/: every endpoint, its bodies and the {code, msg} envelope."""

import ast
import re

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from accounts.services import create_api_key, issue_tokens
from chat.models import Conversation, Message, PromptExample
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def chat_error(response, status):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "msg"}
    assert body["code"] == status and body["msg"]
    return body


@pytest.fixture
def session_client(user):
    """The spec's client: logs in at /myapp/login/ and posts with the cookie, no CSRF token."""
    client = APIClient(enforce_csrf_checks=True)
    assert client.post("/myapp/login/", {"username": "alice", "password": PASSWORD}).json()["code"] == 0
    return client


def add_chat(client, **fields):
    body = {"username": "alice", "chat_id": "1", "chat_title": "请根据以下历史聊天字", **fields}
    return client.post("/myapp/add_chat/", body)


def history(client, title="请根据以下历史聊天字"):
    response = client.post("/myapp/get_history_chat/", {"chat_title": title})
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"code", "历史信息列表"} and body["code"] == 0
    return body["历史信息列表"]


def test_session_cookie_is_samesite_lax():
    # What the CSRF choice relies on: browsers do not send the cookie on cross-site POSTs.
    assert settings.SESSION_COOKIE_SAMESITE == "Lax"


def test_record_messages_and_read_history_with_the_login_session(session_client):
    response = add_chat(session_client, chat_content="你好", chat_tpye="2")
    assert response.status_code == 200, response.content
    assert response.json() == {"code": 0, "msg": "对话加入成功"}
    assert add_chat(session_client, chat_content="你好！有什么可以帮你？", chat_tpye=1).json()["code"] == 0

    assert history(session_client) == [["user", "你好"], ["chatcar", "你好！有什么可以帮你？"]]
    conversation = Conversation.objects.get()
    assert conversation.owner.username == "alice" and conversation.chat_id == "1"


def test_json_body_and_conversation_without_message(auth_client):
    response = auth_client.post(
        "/myapp/add_chat/", {"username": "alice", "chat_id": "c-7", "chat_title": "empty one"}, format="json"
    )
    assert response.json() == {"code": 0, "msg": "对话加入成功"}
    assert history(auth_client, "empty one") == []
    # The same chat_id with another title renames the conversation.
    auth_client.post(
        "/myapp/add_chat/",
        {"username": "alice", "chat_id": "c-7", "chat_title": "renamed", "chat_content": "hi", "chat_tpye": 2},
        format="json",
    )
    assert Conversation.objects.get().title == "renamed"
    assert history(auth_client, "renamed") == [["user", "hi"]]
    chat_error(auth_client.post("/myapp/get_history_chat/", {"chat_title": "empty one"}), 404)


def test_api_key_authenticates(user):
    create_api_key(user, secret_id="chat-key-id", secret_key="chat-key-secret-0123456789")
    client = APIClient()
    client.credentials(HTTP_X_SECRET_ID="chat-key-id", HTTP_X_SECRET_KEY="chat-key-secret-0123456789")
    assert add_chat(client, chat_content="via key", chat_tpye=2).json()["code"] == 0
    assert history(client) == [["user", "via key"]]


def test_user_message_gets_a_real_reply_from_the_backend(session_client, backend, model_server):
    response = add_chat(session_client, chat_content="The river runs", chat_tpye=0)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["code"] == 0 and body["msg"] == "对话加入成功"
    assert body["reply"].strip()
    pairs = history(session_client)
    assert pairs == [["user", "The river runs"], ["chatcar", body["reply"]]]
    sent = model_server.requests[-1]
    assert sent["authorization"] == "Bearer sk-test-chat-backend"
    assert sent["body"]["model"] == "tiny-gpt2" and sent["body"]["stream"] is True
    assert sent["body"]["messages"] == [{"role": "user", "content": "The river runs"}]

    # The next question carries the conversation so far.
    second = add_chat(session_client, chat_content="and the wheel turns").json()
    assert second["reply"].strip()
    assert model_server.requests[-1]["body"]["messages"] == [
        {"role": "user", "content": "The river runs"},
        {"role": "assistant", "content": body["reply"]},
        {"role": "user", "content": "and the wheel turns"},
    ]
    assert [role for role, _ in history(session_client)] == ["user", "chatcar", "user", "chatcar"]
    assert Message.objects.filter(role="chatcar", model_key="backend:tiny").count() == 2


def test_long_conversations_are_cut_to_the_window(session_client, backend, model_server):
    for i in range(12):
        add_chat(session_client, chat_content=f"old note number {i} about the mill", chat_tpye=2)
    response = add_chat(session_client, chat_content="The cat slept")
    assert response.status_code == 200, response.content
    sent = model_server.requests[-1]["body"]["messages"]
    assert sent[-1] == {"role": "user", "content": "The cat slept"}
    assert len(sent) < 13  # the oldest notes were left out, the model did not overflow its 128 tokens
    assert len(history(session_client)) == 14


def test_no_model_available_is_503_and_the_message_is_kept(session_client):
    body = chat_error(add_chat(session_client, chat_content="anyone there?"), 503)
    assert "model" in body["msg"]
    assert history(session_client) == [["user", "anyone there?"]]


def test_unreachable_backend_is_502_and_the_message_is_kept(session_client, backend):
    backend.base_url = "http://127.0.0.1:9/v1"
    backend.save()
    chat_error(add_chat(session_client, chat_content="hello"), 502)
    assert history(session_client) == [["user", "hello"]]


def test_unknown_model_is_400_before_anything_is_stored(session_client, backend):
    chat_error(add_chat(session_client, chat_content="hello", model="backend:nope"), 400)
    assert not Conversation.objects.exists()


def test_username_must_be_the_logged_in_user(session_client, other_user):
    chat_error(add_chat(session_client, username="bob", chat_content="x", chat_tpye=2), 403)
    assert not Conversation.objects.exists()
    chat_error(session_client.post("/myapp/delete_chat/", {"chat_id": "1", "username": "bob"}), 403)


@pytest.mark.parametrize(
    "fields",
    [
        {"chat_id": ""},
        {"chat_title": ""},
        {"chat_title": "   "},
        {"chat_title": "t" * 201},
        {"chat_id": "../etc"},
        {"chat_id": "x" * 65},
        {"chat_tpye": "abc"},
        {"chat_tpye": 7},
        {"chat_tpye": -1},
        {"chat_content": "x" * 32001},
    ],
)
def test_add_chat_bad_input(session_client, fields):
    chat_error(add_chat(session_client, **fields), 400)
    assert not Message.objects.exists()


def test_add_chat_missing_fields_and_wrong_types(auth_client):
    chat_error(auth_client.post("/myapp/add_chat/", {"chat_id": "1", "chat_title": "t"}), 400)
    chat_error(auth_client.post("/myapp/add_chat/", {"username": "alice", "chat_title": "t"}), 400)
    chat_error(auth_client.post("/myapp/add_chat/", {"username": "alice", "chat_id": "1"}), 400)
    chat_error(
        auth_client.post("/myapp/add_chat/", {"username": "alice", "chat_id": ["1"], "chat_title": "t"}, format="json"),
        400,
    )
    chat_error(auth_client.post("/myapp/add_chat/", data="{nope", content_type="application/json"), 400)


@pytest.mark.parametrize(
    "url", ["/myapp/add_chat/", "/myapp/delete_chat/", "/myapp/get_prompt_fuction/", "/myapp/add_prompt_fuction/",
            "/myapp/get_history_chat/"],
)
def test_every_endpoint_needs_authentication(api_client, url):
    chat_error(api_client.post(url, {"chat_id": "1", "chat_title": "t"}), 401)


def test_delete_chat(session_client, other_user):
    add_chat(session_client, chat_id="42", chat_content="bye", chat_tpye=2)
    # The spec types chat_id as a number here: 42 and "42" are the same conversation.
    response = session_client.post("/myapp/delete_chat/", {"chat_id": 42}, format="json")
    assert response.json() == {"code": 0, "msg": "对话删除成功"}
    assert not Conversation.objects.exists() and not Message.objects.exists()
    chat_error(session_client.post("/myapp/delete_chat/", {"chat_id": "42"}), 404)
    chat_error(session_client.post("/myapp/delete_chat/", {}), 400)


def test_other_users_chats_are_unreachable(session_client, other_user):
    add_chat(session_client, chat_content="alice's secret", chat_tpye=2)
    bob = APIClient()
    bob.credentials(HTTP_AUTHORIZATION=issue_tokens(other_user)[0])

    chat_error(bob.post("/myapp/get_history_chat/", {"chat_title": "请根据以下历史聊天字"}), 404)
    chat_error(bob.post("/myapp/delete_chat/", {"chat_id": "1"}), 404)
    # Bob's own chat "1" is another conversation; alice's is untouched.
    bob.post("/myapp/add_chat/", {"username": "bob", "chat_id": "1", "chat_title": "请根据以下历史聊天字",
                                  "chat_content": "bob here", "chat_tpye": 2})
    assert history(bob) == [["user", "bob here"]]
    assert history(session_client) == [["user", "alice's secret"]]
    assert Conversation.objects.count() == 2


def parse_prompt_string(text):
    items = re.findall(r"\[.*?\](?=\[|$)", text, flags=re.S)
    return [ast.literal_eval(item) for item in items]


def test_get_prompt_returns_8_random_examples_in_the_spec_format(session_client, prompts):
    response = session_client.post("/myapp/get_prompt_fuction/", {}, format="json")
    assert response.status_code == 200
    text = response.json()
    assert isinstance(text, str) and text.startswith("['")
    items = parse_prompt_string(text)
    assert len(items) == 8
    titles = {p.title: p.text for p in prompts}
    assert all(titles[title] == body for title, body in items)
    assert len({title for title, _ in items}) == 8


def test_get_prompt_shows_public_and_own_prompts_only(session_client, other_user):
    PromptExample.objects.create(title="public one", text="for all", is_public=True)
    PromptExample.objects.create(title="bob's own", text="private", owner=other_user)
    session_client.post("/myapp/add_prompt_fuction/", {"prompt_title": "mine", "prompt_text": "alice's"})
    items = parse_prompt_string(session_client.post("/myapp/get_prompt_fuction/").json())
    assert sorted(items) == [["mine", "alice's"], ["public one", "for all"]]


def test_add_prompt(session_client):
    body = {"prompt_title": "python数据处理", "prompt_text": "我有五个excel表，每个表有6列。帮我写一段python，把这五个表合成一个表。"}
    response = session_client.post("/myapp/add_prompt_fuction/", body)
    assert response.status_code == 200
    assert response.json() == {"code": 0, **body, "prompt_msg": "示例promp存储成功"}
    prompt = PromptExample.objects.get()
    assert prompt.owner.username == "alice" and prompt.language == "zh" and not prompt.is_public
    chat_error(session_client.post("/myapp/add_prompt_fuction/", body), 409)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"prompt_title": "t"},
        {"prompt_text": "x"},
        {"prompt_title": " ", "prompt_text": "x"},
        {"prompt_title": "t" * 101, "prompt_text": "x"},
        {"prompt_title": "t", "prompt_text": "x" * 4001},
    ],
)
def test_add_prompt_bad_input(session_client, body):
    chat_error(session_client.post("/myapp/add_prompt_fuction/", body), 400)
    assert not PromptExample.objects.exists()


def test_history_bad_input(session_client):
    chat_error(session_client.post("/myapp/get_history_chat/", {}), 400)
    chat_error(session_client.post("/myapp/get_history_chat/", {"chat_title": "nothing"}), 404)
