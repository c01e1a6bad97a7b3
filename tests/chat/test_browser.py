"""The chat page in a real browser: start a conversation, see the answer stream in."""

import pytest

from chat.models import Conversation, Message
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, url):
    page.goto(url + "/accounts/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/accounts/**")


def test_start_a_conversation_and_see_the_streamed_answer(page, live_server, user, backend, prompts, tmp_path):
    log_in(page, live_server.url)
    page.goto(live_server.url + "/chat/")
    assert page.locator(".starter").count() == 6
    assert page.locator("[data-testid=model-picker]").input_value() == "backend:tiny"

    # A starter card fills the composer; then our own question replaces it.
    page.locator(".starter").first.click()
    assert page.locator("[data-testid=chat-input]").input_value()
    page.fill("[data-testid=chat-input]", "The river runs past the old mill")
    page.click("[data-testid=chat-send]")

    page.locator(".msg.user").filter(has_text="The river runs past the old mill").wait_for()
    answer = page.locator(".msg.chatcar[data-done=true] .text")
    answer.wait_for(timeout=30_000)
    text = answer.inner_text()
    assert text.strip()
    page.screenshot(path=str(tmp_path / "chat.png"), full_page=True)

    conversation = Conversation.objects.get(owner=user)
    assert page.url.endswith(f"/chat/c/{conversation.chat_id}/")
    assert page.locator("#chat-list li[data-chat-id]").first.inner_text().strip() == "The river runs past the old mill"
    stored = Message.objects.get(conversation=conversation, role="chatcar").content
    assert stored.strip() == text.strip()
    # The export links are there at once, without a reload.
    assert page.locator("[data-testid=export-json]").is_visible()
    assert page.locator("[data-testid=export-json]").get_attribute("href") == f"/chat/c/{conversation.chat_id}/export.json"

    # Reloaded, the conversation shows both messages and offers the export links.
    page.reload()
    assert page.locator(".msg").count() == 2
    with page.expect_download() as download:
        page.click("[data-testid=export-md]")
    assert download.value.suggested_filename == f"chat-{conversation.chat_id}.md"
    assert page.js_errors == []
