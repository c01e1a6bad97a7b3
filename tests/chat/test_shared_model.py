"""A fresh seed's shared chat model, for real: the demo researcher's tiny GPT-2 deployed by
serving.seed and shared with everyone; a user who just registered through chat-api.md chats with
it (add_chat, the chat page's stream, /v1 with their own API key), and in the browser the
playground keeps the conversation inside its 128-token window and says what it left out."""

import io
import json

import openai
import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from accounts.services import create_api_key
from chat.models import Message
from hub.tiny_models import build_tiny_gpt2
from registry.services import register_training_result
from serving import seed as serving_seed
from serving.models import ModelService
from tests.factories import UserFactory
from tests.serving.conftest import kill_replicas, wait_version

from .test_pages import read_events

pytestmark = [pytest.mark.worker, pytest.mark.browser, pytest.mark.django_db(transaction=True),
              pytest.mark.timeout(600)]

NEW_USER, NEW_PASSWORD = "newcomer", "a-long-enough-passphrase-42"


@pytest.fixture
def shared_demo_model(celery_worker, tmp_path):
    researcher = UserFactory(username="researcher")
    register_training_result(owner=researcher, application_name="tiny-gpt2",
                             folder=build_tiny_gpt2(tmp_path / "tiny", train_steps=30))
    out = io.StringIO()
    serving_seed.run(out)
    assert "researcher/tiny-gpt2 is shared with everyone" in out.getvalue()
    service = ModelService.objects.get(owner=researcher, name="tiny-gpt2")
    assert service.sharing == "everyone"
    try:
        wait_version(service.versions.get(), ["running"], timeout=300)
        yield service
    finally:
        kill_replicas()


def register_through_chat_api():
    client = APIClient(enforce_csrf_checks=True)
    registered = client.post("/myapp/register/", {"username": NEW_USER, "password": NEW_PASSWORD})
    assert registered.json()["code"] == 0, registered.content
    assert client.post("/myapp/login/", {"username": NEW_USER, "password": NEW_PASSWORD}).json()["code"] == 0
    return client


def test_a_new_user_chats_with_the_shared_model(shared_demo_model, live_server, page):
    client = register_through_chat_api()
    body = {"username": NEW_USER, "chat_id": "first", "chat_title": "hello"}
    answer = client.post("/myapp/add_chat/", {**body, "chat_content": "The river runs"})
    assert answer.status_code == 200, answer.content
    assert answer.json()["reply"].strip() and "notice" not in answer.json()
    assert Message.objects.get(role="chatcar").model_key == "serving:researcher/tiny-gpt2"

    # A 3,000-word message on the 128-token model: answered, and the answer says what was cut.
    long = " ".join(f"mill{i % 40}" for i in range(3000)) + " What turns the wheel?"
    cut = client.post("/myapp/add_chat/", {**body, "chat_id": "long", "chat_content": long}).json()
    assert cut["code"] == 0 and cut["reply"].strip()
    assert cut["notice"].startswith("Your message was cut to its last ")
    assert cut["notice"].endswith(f"of {len(long):,} characters to fit the model's 128-token window.")

    # The chat page streams its answer too.
    newcomer = get_user_model().objects.get(username=NEW_USER)
    pages = Client()
    pages.force_login(newcomer)
    events = read_events(pages.post("/chat/send", json.dumps({"content": "The cat slept"}),
                                    content_type="application/json"))
    names = [name for name, _ in events]
    assert dict(events)["model"]["key"] == "serving:researcher/tiny-gpt2"
    assert "delta" in names and names[-1] == "done", events

    # /v1 with the newcomer's own API key: listed as shared, answered as a stream.
    key, secret = create_api_key(newcomer, secret_id="newcomer-key", secret_key="n" * 32)
    api = openai.OpenAI(base_url=live_server.url + "/v1", api_key=f"{key.secret_id}:{secret}", max_retries=0,
                        timeout=60)
    assert [(m.id, m.owned_by) for m in api.models.list().data] == [("researcher/tiny-gpt2", "researcher")]
    chunks = list(api.chat.completions.create(model="researcher/tiny-gpt2", stream=True, max_tokens=12,
                                              messages=[{"role": "user", "content": "The river"}]))
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")

    # In the browser: the playground keeps the conversation inside the window and says so.
    page.goto(live_server.url + "/accounts/login/")
    page.fill("#id_username", NEW_USER)
    page.fill("#id_password", NEW_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/accounts/**")
    page.goto(live_server.url + "/serving/playground/")
    assert "shared by researcher" in page.locator("#model").inner_text()
    assert "128 tokens" in page.locator("[data-testid=window-info]").inner_text()
    notice = page.locator("[data-testid=notice]")
    for turn in range(1, 5):
        page.fill("#prompt", f"The river runs past the old mill, turn {turn}")
        page.click("[data-testid=send]")
        page.locator(f"[data-testid=output][data-done='{2 * turn}']").wait_for(timeout=60_000)
        assert not page.locator("[data-testid=output]").inner_text().startswith("Error")
    assert notice.is_visible()
    assert "earlier messages were left out to fit the model's 128-token window" in notice.inner_text()
    assert page.locator("[data-testid=transcript] p").count() == 8  # every turn is shown, even those left out
    page.click("[data-testid=new-conversation]")
    assert not notice.is_visible() and page.locator("[data-testid=output]").inner_text() == ""
    assert "No messages yet" in page.locator("[data-testid=transcript]").inner_text()

    # The chat page picks the shared model for the newcomer.
    page.goto(live_server.url + "/chat/")
    assert page.locator("[data-testid=model-picker]").input_value() == "serving:researcher/tiny-gpt2"
    page.fill("[data-testid=chat-input]", "The wheel turns")
    page.click("[data-testid=chat-send]")
    page.locator(".msg.chatcar[data-done=true] .text").wait_for(timeout=60_000)
    assert page.locator(".msg.error").count() == 0
    assert page.js_errors == []
