"""The prompt library page: browse and search, add one's own, start a message from a prompt."""

import pytest

from chat.models import PromptExample

pytestmark = pytest.mark.django_db


def test_alice_searches_adds_and_uses_prompts_and_bobs_stay_his(client, user, other_user):
    PromptExample.objects.create(title="Code review", text="Review this code:", is_public=True, language="en")
    PromptExample.objects.create(title="Bob's secret", text="only bob", owner=other_user, language="en")
    client.force_login(user)
    page = client.get("/chat/prompts/").content.decode()
    assert "Code review" in page and "Bob&#x27;s secret" not in page and "only bob" not in page
    assert "Code review" not in client.get("/chat/prompts/", {"q": "weather"}).content.decode()
    assert "Code review" in client.get("/chat/prompts/", {"q": "this code"}).content.decode()

    response = client.post("/chat/prompts/", {"title": "Summarise", "text": "Summarise in three lines: <b>x</b>"})
    assert response.status_code == 302
    mine = PromptExample.objects.get(owner=user, title="Summarise")
    assert not mine.is_public
    listed = client.get("/chat/prompts/").content.decode()
    assert "Summarise in three lines: &lt;b&gt;x&lt;/b&gt;" in listed and "<b>x</b>" not in listed
    duplicate = client.post("/chat/prompts/", {"title": "Summarise", "text": "again"}).content.decode()
    assert "already have a prompt titled" in duplicate

    chat = client.get(f"/chat/?prompt={mine.pk}").content.decode()
    assert "Summarise in three lines: &lt;b&gt;x&lt;/b&gt;</textarea>" in chat
    bobs = PromptExample.objects.get(owner=other_user)
    assert "only bob" not in client.get(f"/chat/?prompt={bobs.pk}").content.decode()
