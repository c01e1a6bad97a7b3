"""The chat page's tools in a real browser: Markdown answers (no script ever runs), conversation
settings, regenerate, edit-and-resend, stop, and the notice of a cut message."""

import re

import pytest

from chat import services
from chat.models import Conversation, Message
from tests.worker import wait_until

from .test_browser import log_in
from .test_tools import XSS_ANSWER

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def slow_model(model_server):
    model_server.delay_s = 1.0  # long enough that Stop lands well before the answer ends, even on a loaded machine
    yield model_server
    model_server.delay_s = 0.0


def last_answer(page):
    return page.locator(".msg.chatcar").last


def test_markdown_settings_regenerate_and_edit(page, live_server, user, backend, model_server):
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    conversation = services.get_or_create_conversation(user, "md", "Markdown")
    services.add_message(conversation, Message.USER, "<script>alert('q')</script> show me code")
    services.add_message(conversation, Message.ASSISTANT, XSS_ANSWER)
    log_in(page, live_server.url)
    page.goto(live_server.url + "/chat/c/md/")

    answer = last_answer(page)
    assert answer.locator(".text strong").inner_text() == "bold"
    assert answer.locator(".highlight pre").count() == 1 and "def grow" in answer.locator(".highlight").inner_text()
    assert answer.locator("script, img").count() == 0
    hrefs = [a.get_attribute("href") for a in answer.locator("a").all()]
    assert "https://example.org/a" in hrefs and not any(h and "javascript" in h for h in hrefs)
    assert page.locator(".msg.user .text").inner_text().startswith("<script>alert('q')</script>")
    assert dialogs == [] and page.evaluate("document.querySelectorAll('#chat-messages script').length") == 0

    # A system prompt and a temperature for this conversation, sent with the next question.
    page.click("[data-testid=chat-settings] summary")
    page.fill("[data-testid=system-prompt]", "Answer in one line.")
    page.fill("[data-testid=temperature]", "0")
    page.fill("[data-testid=chat-input]", "The river runs")
    page.click("[data-testid=chat-send]")
    page.locator(".msg.chatcar[data-done=true][data-message-id]").wait_for(timeout=30_000)
    sent = model_server.requests[-1]["body"]
    assert sent["messages"][0] == {"role": "system", "content": "Answer in one line."} and sent["temperature"] == 0
    conversation.refresh_from_db()
    assert (conversation.system_prompt, conversation.temperature) == ("Answer in one line.", 0.0)
    # Only the last answer offers Regenerate.
    assert page.locator(".msg.chatcar .regenerate:visible").count() == 1

    # Regenerate: the last answer is replaced by a new one.
    before = Message.objects.filter(role="chatcar").order_by("-pk").first().pk
    last_answer(page).locator(".regenerate").click()
    page.locator(f".msg.chatcar[data-done=true][data-message-id]:not([data-message-id='{before}'])").wait_for(
        timeout=30_000)
    answers = list(conversation.messages.filter(role="chatcar").order_by("pk"))
    assert len(answers) == 2 and answers[-1].pk > before
    assert last_answer(page).get_attribute("data-message-id") == str(answers[-1].pk)

    # Edit the first question and send again: what followed it is replaced.
    page.locator(".msg.user").first.locator(".edit").click()
    page.fill("[data-testid=edit-input]", "The cat sleeps by the fire")
    page.click("[data-testid=edit-send]")
    wait_until(lambda: [m.role for m in conversation.messages.all()] == ["user", "chatcar"]
               and conversation.messages.last().model_key, timeout=30, interval=0.2, message="the edited exchange")
    page.locator(".msg.chatcar[data-done=true]").first.wait_for()
    assert page.locator(".msg").count() == 2
    assert page.locator(".msg.user .text").inner_text() == "The cat sleeps by the fire"
    assert conversation.messages.first().content == "The cat sleeps by the fire"
    page.reload()
    assert page.locator(".msg").count() == 2
    assert page.js_errors == [] and dialogs == []


def test_stop_keeps_the_partial_answer_and_says_so(page, live_server, user, backend, slow_model):
    log_in(page, live_server.url)
    page.goto(live_server.url + "/chat/")
    page.fill("[data-testid=chat-input]", "The river runs past the old mill")
    page.click("[data-testid=chat-send]")
    stop = page.locator("[data-testid=chat-stop]")
    stop.wait_for(state="visible")
    assert page.locator("[data-testid=chat-send]").is_hidden()
    page.locator(".msg.chatcar .text").filter(has_text=re.compile(r"\S")).wait_for(timeout=30_000)
    stop.click()
    page.locator(".msg.chatcar[data-stopped=true]").wait_for()
    assert "stopped before it was complete" in page.locator(".msg.chatcar [data-testid=notice]").inner_text()
    assert page.locator("[data-testid=chat-send]").is_visible() and stop.is_hidden()

    wait_until(lambda: Message.objects.filter(role="chatcar").exists(), timeout=30, interval=0.2,
               message="the stopped answer to be stored")
    stored = Message.objects.get(role="chatcar")
    assert stored.notice == services.STOPPED_NOTICE and stored.content.strip()
    page.reload()
    assert "stopped before it was complete" in last_answer(page).locator("[data-testid=notice]").inner_text()
    assert page.js_errors == []


def test_a_long_message_shows_what_was_cut(page, live_server, user, backend):
    log_in(page, live_server.url)
    page.goto(live_server.url + "/chat/")
    words = " ".join(f"word{i % 50}" for i in range(3000)) + " What is the last word?"
    page.fill("[data-testid=chat-input]", words)
    page.click("[data-testid=chat-send]")
    page.locator(".msg.chatcar[data-done=true]").wait_for(timeout=30_000)
    notice = last_answer(page).locator("[data-testid=notice]").inner_text()
    assert notice.startswith("Your message was cut to its last ")
    assert notice.endswith(f"of {len(words):,} characters to fit the model's 128-token window.")
    assert Conversation.objects.get(owner=user).messages.get(role="user").content == words
    assert page.js_errors == []
