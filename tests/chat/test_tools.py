"""What Open WebUI users expect of a conversation: answers as sanitised Markdown, a system prompt
and temperature per conversation, regenerate, edit-and-resend, and notices of whatever was cut
to fit the model's window (never a silent cut)."""

import io
import json

import pytest
from django.utils.html import escape

from chat import seed, services
from chat.markdown import render_answer
from chat.models import Conversation, Message
from serving.models import ModelService

from .test_compat import add_chat, session_client  # noqa: F401 - the spec's logged-in client
from .test_pages import make_chat, read_events

pytestmark = pytest.mark.django_db

XSS_ANSWER = (
    "Here is **bold** and a [safe link](https://example.org/a) and a [bad link](javascript:alert(1)).\n\n"
    "<script>alert('owned')</script>\n\n"
    "<img src=x onerror=alert(2)>\n\n"
    "```python\ndef grow(crystal):\n    return crystal * 2\n```\n"
)


def send(client, **body):
    return read_events(client.post("/chat/send", json.dumps(body), content_type="application/json"))


def test_render_answer_keeps_markdown_and_drops_scripts():
    html = render_answer(XSS_ANSWER)
    assert "<strong>bold</strong>" in html
    assert 'href="https://example.org/a"' in html and 'rel="nofollow noopener noreferrer"' in html
    assert "javascript:" not in html and "<script" not in html and "<img" not in html
    # Raw HTML is shown as text, never interpreted.
    assert "&lt;script&gt;" in html
    # The code block: highlighted by Pygments, classes kept only where they belong.
    assert '<div class="highlight">' in html and '<span class="k">def</span>' in html
    raw_link = render_answer('<a href="javascript:alert(1)" onclick="x()">x</a>')
    assert "<a " not in raw_link and raw_link.startswith("<p>&lt;a href=")  # shown as text
    assert "<b onclick" not in render_answer('<b onclick="x()">b</b>')


def test_the_page_shows_answers_as_markdown_and_questions_as_text(client, user):
    make_chat(user, "md", "Markdown", ("user", "<script>alert('question')</script> **not bold**"),
              ("chatcar", XSS_ANSWER))
    client.force_login(user)
    page = client.get("/chat/c/md/").content.decode()
    assert render_answer(XSS_ANSWER) in page
    assert "<strong>bold</strong>" in page and '<div class="highlight">' in page
    assert "<script>alert(" not in page and "javascript:alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#x27;question&#x27;)&lt;/script&gt; **not bold**" in page


def test_system_prompt_and_temperature_are_the_conversations(client, user, backend, model_server):
    client.force_login(user)
    events = send(client, content="The cat slept", system_prompt="  Answer like a poet. ", temperature=0.4)
    assert events[-1][0] == "done"
    conversation = Conversation.objects.get(owner=user)
    assert (conversation.system_prompt, conversation.temperature) == ("Answer like a poet.", 0.4)
    sent = model_server.requests[-1]["body"]
    assert sent["messages"][0] == {"role": "system", "content": "Answer like a poet."}
    assert sent["messages"][-1] == {"role": "user", "content": "The cat slept"} and sent["temperature"] == 0.4

    # Kept for the next message; blank and null give the model's own back.
    send(client, chat_id=conversation.chat_id, content="and then?")
    assert model_server.requests[-1]["body"]["messages"][0]["role"] == "system"
    send(client, chat_id=conversation.chat_id, content="more", system_prompt="", temperature=None)
    sent = model_server.requests[-1]["body"]
    assert sent["messages"][0]["role"] == "user" and sent["temperature"] == backend.temperature
    page = client.get(f"/chat/c/{conversation.chat_id}/").content.decode()
    assert 'data-testid="system-prompt"' in page and 'data-testid="temperature"' in page

    for bad in (5, "hot", True):
        response = client.post("/chat/send", json.dumps({"content": "x", "temperature": bad}),
                               content_type="application/json")
        assert response.status_code == 400, bad
    assert Message.objects.filter(content="x").count() == 0


def test_regenerate_replaces_the_last_answer(client, user, backend, model_server):
    client.force_login(user)
    send(client, chat_id="r1", content="The river runs")
    first = Message.objects.get(role="chatcar")
    events = read_events(client.post("/chat/c/r1/regenerate", json.dumps({}), content_type="application/json"))
    assert [name for name, _ in events][0] == "model" and events[-1][0] == "done"
    done = events[-1][1]
    answers = list(Message.objects.filter(role="chatcar"))
    assert len(answers) == 1 and answers[0].pk != first.pk and answers[0].pk == done["message_id"]
    assert done["html"] and answers[0].content.strip()
    assert model_server.requests[-1]["body"]["messages"] == [{"role": "user", "content": "The river runs"}]
    assert [m.role for m in Conversation.objects.get().messages.all()] == ["user", "chatcar"]

    client.force_login(user)
    assert client.post("/chat/c/nope/regenerate", "{}", content_type="application/json").status_code == 404


def test_edit_and_resend_continues_from_the_edited_question(client, user, other_user, backend, model_server):
    client.force_login(user)
    send(client, chat_id="e1", content="The river runs")
    send(client, chat_id="e1", content="and the mill?")
    question = Message.objects.filter(role="user").first()
    answer = Message.objects.filter(role="chatcar").first()
    events = read_events(client.post("/chat/c/e1/edit", json.dumps({"message_id": question.pk,
                                                                     "content": "The cat sleeps"}),
                                     content_type="application/json"))
    assert events[-1][0] == "done"
    conversation = Conversation.objects.get()
    assert [(m.role, m.content if m.role == "user" else "") for m in conversation.messages.all()] == [
        ("user", "The cat sleeps"), ("chatcar", "")]
    assert model_server.requests[-1]["body"]["messages"] == [{"role": "user", "content": "The cat sleeps"}]

    # Only the user's own messages of this conversation can be edited.
    new_answer = conversation.messages.get(role="chatcar")
    for body in ({"message_id": new_answer.pk, "content": "x"}, {"message_id": answer.pk, "content": "x"},
                 {"message_id": question.pk, "content": " "}, {"message_id": "1; drop", "content": "x"}):
        response = client.post("/chat/c/e1/edit", json.dumps(body), content_type="application/json")
        assert response.status_code == 400, body
    client.force_login(other_user)
    response = client.post("/chat/c/e1/edit", json.dumps({"message_id": question.pk, "content": "mine"}),
                           content_type="application/json")
    assert response.status_code == 404
    assert Message.objects.get(pk=question.pk).content == "The cat sleeps"


def test_a_long_message_is_cut_with_a_notice(client, user, backend, model_server):
    """The 128-token model and a 3,000-word message: the answer says what was cut."""
    client.force_login(user)
    words = " ".join(f"word{i % 50}" for i in range(3000)) + " What is the last word?"
    events = send(client, content=words)
    names = [name for name, _ in events]
    assert "notice" in names and names.index("notice") < names.index("delta")
    notice = dict(events)["notice"]["text"]
    assert notice.startswith("Your message was cut to its last ") and f"of {len(words):,} characters" in notice
    assert notice.endswith("to fit the model's 128-token window.")
    assert events[-1][0] == "done" and events[-1][1]["notice"] == notice
    sent = model_server.requests[-1]["body"]["messages"]
    assert len(sent) == 1 and sent[0]["content"].endswith("What is the last word?") and len(sent[0]["content"]) < 500
    stored = Message.objects.get(role="chatcar")
    assert stored.notice == notice
    # The stored question is whole; the page shows the notice under the answer.
    assert Message.objects.get(role="user").content == words
    assert escape(notice) in client.get(f"/chat/c/{stored.conversation.chat_id}/").content.decode()


def test_left_out_turns_are_named(client, user, backend, model_server):
    client.force_login(user)
    conversation = make_chat(user, "t1", "Turns", *[("user", f"old note number {i} about the mill") for i in range(12)])
    events = send(client, chat_id="t1", content="The cat slept")
    notice = dict(events)["notice"]["text"]
    sent = model_server.requests[-1]["body"]["messages"]
    left_out = 13 - len(sent)
    assert left_out > 0
    assert notice == f"{left_out} earlier messages were left out to fit the model's 128-token window."
    assert conversation.messages.get(role="chatcar").notice == notice


def test_add_chat_answers_with_the_notice(session_client, backend, model_server):  # noqa: F811
    long = "the mill wheel turns " * 600
    body = add_chat(session_client, chat_content=long).json()
    assert body["code"] == 0 and body["reply"].strip()
    assert body["notice"].startswith("Your message was cut to its last")
    short = add_chat(session_client, chat_id="2", chat_content="hello").json()
    assert "notice" not in short


def test_a_stopped_answer_is_kept_and_says_so(user, backend, model_server):
    conversation = services.get_or_create_conversation(user, "s1", "stop")
    services.add_message(conversation, Message.USER, "The river runs past the mill")
    model = services.model_for(conversation)
    pieces = services.stream_reply(conversation, model)
    first = next(pieces)
    pieces.close()  # what the page's Stop (the browser going away) does to the stream
    stored = Message.objects.get(role="chatcar")
    assert stored.content == first and stored.notice == services.STOPPED_NOTICE


def test_a_backend_without_a_key_gets_no_authorization_header(user, backend, model_server):
    backend.api_key = ""
    backend.save()
    model_server.api_key = ""
    try:
        conversation = services.get_or_create_conversation(user, "k1", "no key")
        assert services.ask(conversation, "The cat slept").strip()
    finally:
        model_server.api_key = "sk-test-chat-backend"
    assert model_server.requests[-1]["authorization"] is None


def test_the_chat_seed_names_the_model_new_users_get(user):
    out = io.StringIO()
    seed.run(out)
    assert "no shared chat model and no default backend" in out.getvalue()
    ModelService.objects.create(owner=user, name="open-chat", sharing="everyone")
    out = io.StringIO()
    seed.run(out)
    assert "new users talk to the shared model alice/open-chat" in out.getvalue()
