"""The /chat/ pages: sidebar, streamed answers (server-sent events), rename, delete, export."""

import json

import pytest

from chat import services
from chat.models import Conversation, Message

pytestmark = pytest.mark.django_db


def make_chat(user, chat_id="1", title="Mill notes", *messages):
    conversation = services.get_or_create_conversation(user, chat_id, title)
    for role, content in messages:
        services.add_message(conversation, role, content)
    return conversation


def read_events(response):
    assert response["Content-Type"].startswith("text/event-stream")
    text = b"".join(response.streaming_content).decode()
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_pages_need_a_login(client):
    response = client.get("/chat/")
    assert response.status_code == 302 and "login" in response["Location"]
    assert client.post("/chat/send", "{}", content_type="application/json").status_code in (401, 403)


def test_index_lists_my_conversations_models_and_starter_cards(client, user, other_user, backend, prompts):
    make_chat(user, "1", "Alice's mill notes")
    make_chat(other_user, "1", "Bob's private chat")
    client.force_login(user)
    html = client.get("/chat/").content.decode()
    assert "Alice&#x27;s mill notes" in html and "Bob" not in html
    assert 'value="backend:tiny"' in html and "selected" in html
    assert html.count('class="starter"') == 6


def test_search_matches_titles_and_messages(client, user):
    make_chat(user, "1", "Crystal growth", ("user", "furnace temperature"))
    make_chat(user, "2", "Holiday plans", ("user", "mountain path"))
    client.force_login(user)
    html = client.get("/chat/", {"q": "furnace"}).content.decode()
    assert "Crystal growth" in html and "Holiday plans" not in html
    assert "No chat matches" in client.get("/chat/", {"q": "zebra"}).content.decode()


def test_conversation_page_shows_messages_and_others_are_404(client, user, other_user):
    make_chat(user, "1", "Mill notes", ("user", "hello mill"), ("chatcar", "the wheel turns"))
    client.force_login(user)
    html = client.get("/chat/c/1/").content.decode()
    assert "hello mill" in html and "the wheel turns" in html and "export.md" in html
    client.force_login(other_user)
    assert client.get("/chat/c/1/").status_code == 404
    assert client.get("/chat/c/1/export.json").status_code == 404
    assert client.post("/chat/c/1/delete").status_code == 404
    assert client.post("/chat/c/1/rename", {"title": "mine"}).status_code == 404
    assert Conversation.objects.get().title == "Mill notes"


def test_send_streams_the_answer_and_stores_it(client, user, backend, model_server):
    client.force_login(user)
    response = client.post(
        "/chat/send", json.dumps({"content": "The cat slept in the sun", "model": "backend:tiny"}),
        content_type="application/json",
    )
    assert response.status_code == 200
    events = read_events(response)
    names = [name for name, _ in events]
    assert names[0] == "conversation" and names[1] == "model" and names[-1] == "done"
    assert names.count("delta") >= 2  # the answer came in pieces
    answer = "".join(data["text"] for name, data in events if name == "delta")
    conversation = Conversation.objects.get(owner=user)
    assert events[0][1]["chat_id"] == conversation.chat_id
    assert events[0][1]["title"] == "The cat slept in the sun"
    assert list(conversation.messages.values_list("role", "content")) == [
        ("user", "The cat slept in the sun"), ("chatcar", answer)
    ]
    assert conversation.model_key == "backend:tiny"

    # Continuing the same conversation sends the history along.
    again = client.post("/chat/send", json.dumps({"chat_id": conversation.chat_id, "content": "and then?"}),
                        content_type="application/json")
    assert read_events(again)[-1][0] == "done"
    assert len(model_server.requests[-1]["body"]["messages"]) == 3
    assert conversation.messages.count() == 4


def test_send_without_a_model_reports_an_error_event_and_keeps_the_question(client, user):
    client.force_login(user)
    events = read_events(client.post("/chat/send", json.dumps({"content": "hello?"}), content_type="application/json"))
    assert events[0][0] == "conversation"
    assert events[-1][0] == "error" and events[-1][1]["code"] == 503
    assert list(Message.objects.values_list("role", "content")) == [("user", "hello?")]


@pytest.mark.parametrize(
    "body", ["nope", "[]", json.dumps({"content": ""}), json.dumps({"content": 5}),
             json.dumps({"content": "x", "chat_id": "a/b"}), json.dumps({"content": "x", "model": "backend:nope"})],
)
def test_send_bad_input_is_400(client, user, body):
    client.force_login(user)
    response = client.post("/chat/send", body, content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == 400
    assert not Message.objects.exists()


def test_send_needs_the_csrf_token(user):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/chat/send", json.dumps({"content": "hi"}), content_type="application/json")
    assert response.status_code == 403
    assert not Message.objects.exists()


def test_rename_and_delete(client, user):
    make_chat(user, "1", "Old title", ("user", "hi"))
    client.force_login(user)
    response = client.post("/chat/c/1/rename", {"title": "  New   title "})
    assert response.json() == {"code": 0, "msg": "renamed", "title": "New title"}
    assert client.post("/chat/c/1/rename", {"title": " "}).status_code == 400
    assert Conversation.objects.get().title == "New title"
    response = client.post("/chat/c/1/delete")
    assert response.status_code == 302 and response["Location"] == "/chat/"
    assert not Conversation.objects.exists() and not Message.objects.exists()


def test_export_markdown_and_json(client, user):
    make_chat(user, "x-1", "Mill notes", ("user", "hello mill"), ("chatcar", "the wheel turns"))
    client.force_login(user)
    md = client.get("/chat/c/x-1/export.md")
    assert md["Content-Disposition"] == 'attachment; filename="chat-x-1.md"'
    text = md.content.decode()
    assert text.startswith("# Mill notes\n")
    assert "## User\n\nhello mill" in text and "## Assistant\n\nthe wheel turns" in text
    data = json.loads(client.get("/chat/c/x-1/export.json").content)
    assert data["chat_id"] == "x-1" and data["title"] == "Mill notes"
    assert [(m["role"], m["content"]) for m in data["messages"]] == [("user", "hello mill"), ("chatcar", "the wheel turns")]
    assert client.get("/chat/c/x-1/export.txt").status_code == 404
