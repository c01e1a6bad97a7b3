"""Prompt library seed, admin pages (API keys never shown back), context-window rule, SSE parsing."""

from io import StringIO

import pytest

from chat import seed
from chat.llm import PromptTooLong, estimate_tokens, fit, fit_to_window
from chat.models import ChatBackend, Conversation, PromptExample
from chat.prompt_library import PROMPTS


@pytest.mark.django_db
def test_seed_is_idempotent_and_bilingual():
    seed.run(StringIO())
    seed.run(StringIO())
    library = PromptExample.objects.filter(owner=None, is_public=True)
    assert library.count() == len(PROMPTS) >= 30
    assert library.filter(language="zh").count() >= 10 and library.filter(language="en").count() >= 10
    assert library.filter(title="小红书账号介绍文案").exists()


@pytest.fixture
def admin_client(client, user):
    user.is_staff = user.is_superuser = True
    user.save()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_admin_lists_every_model(admin_client, user):
    from chat import services

    conversation = services.get_or_create_conversation(user, "1", "Admin view")
    services.add_message(conversation, "user", "hello admin")
    PromptExample.objects.create(title="admin prompt", text="x", is_public=True)
    ChatBackend.objects.create(name="local", base_url="http://127.0.0.1:1/v1", model_name="m")
    for url, expected in [
        ("/admin/chat/conversation/", "Admin view"),
        ("/admin/chat/message/", "hello admin"),
        ("/admin/chat/promptexample/", "admin prompt"),
        ("/admin/chat/chatbackend/", "local"),
        (f"/admin/chat/conversation/{conversation.pk}/change/", "hello admin"),
        ("/admin/chat/conversation/?q=Admin", "Admin view"),
    ]:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert expected in response.content.decode(), url


@pytest.mark.django_db
def test_backend_api_key_is_write_only(admin_client):
    form = {
        "name": "vllm", "base_url": "http://127.0.0.1:8001/v1", "api_key": "sk-very-secret", "model_name": "qwen",
        "context_window": 4096, "max_tokens": 256, "temperature": 0.7, "timeout_seconds": 60,
        "is_default": "on", "is_active": "on",
    }
    assert admin_client.post("/admin/chat/chatbackend/add/", form).status_code == 302
    backend = ChatBackend.objects.get()
    assert backend.api_key == "sk-very-secret"
    change = admin_client.get(f"/admin/chat/chatbackend/{backend.pk}/change/").content.decode()
    listing = admin_client.get("/admin/chat/chatbackend/").content.decode()
    assert "sk-very-secret" not in change and "sk-very-secret" not in listing

    # Saving with the key left empty keeps it; "clear" removes it.
    admin_client.post(f"/admin/chat/chatbackend/{backend.pk}/change/", {**form, "api_key": "", "max_tokens": 128})
    backend.refresh_from_db()
    assert backend.api_key == "sk-very-secret" and backend.max_tokens == 128
    admin_client.post(f"/admin/chat/chatbackend/{backend.pk}/change/", {**form, "api_key": "", "clear_api_key": "on"})
    backend.refresh_from_db()
    assert backend.api_key == ""


@pytest.mark.django_db
def test_one_default_backend():
    first = ChatBackend.objects.create(name="a", base_url="http://x/v1", model_name="m", is_default=True)
    ChatBackend.objects.create(name="b", base_url="http://y/v1", model_name="m", is_default=True)
    first.refresh_from_db()
    assert not first.is_default
    assert list(ChatBackend.objects.filter(is_default=True).values_list("name", flat=True)) == ["b"]


@pytest.mark.django_db
def test_deleting_a_user_deletes_their_chats(user):
    from chat import services

    services.get_or_create_conversation(user, "1", "gone soon")
    user.delete()
    assert not Conversation.objects.exists()


def test_fit_to_window_keeps_the_newest_messages_and_the_question():
    messages = [{"role": "user", "content": "x" * 300} for _ in range(10)] + [{"role": "user", "content": "question?"}]
    fitted = fit_to_window(messages, window=400, reply_tokens=100)
    assert fitted[-1]["content"] == "question?"
    assert 1 < len(fitted) < len(messages)
    assert sum(estimate_tokens(m["content"]) + 4 for m in fitted) <= 400 - 100
    assert fitted == messages[-len(fitted):]

    # A question longer than the window keeps its end.
    long = [{"role": "user", "content": "intro " * 500 + "the real question?"}]
    cut = fit_to_window(long, window=128, reply_tokens=32)
    assert cut[0]["content"].endswith("the real question?") and estimate_tokens(cut[0]["content"]) <= 128


def test_estimate_tokens_counts_chinese_by_bytes():
    assert estimate_tokens("abc") == 1
    assert estimate_tokens("你好") == 2  # 6 UTF-8 bytes
    assert estimate_tokens("") == 0


def test_fit_says_what_was_left_out():
    turns = [{"role": "user", "content": f"note {i} " + "x" * 60} for i in range(6)] + [
        {"role": "user", "content": "question?"}]
    fitted = fit(turns, window=128, reply_tokens=32)
    assert fitted.dropped == len(turns) - len(fitted.messages) >= 2
    assert fitted.notice == f"{fitted.dropped} earlier messages were left out to fit the model's 128-token window."
    assert fit(turns[-1:], window=128, reply_tokens=32).notice == ""

    long = [{"role": "user", "content": "word " * 3000 + "the real question?"}]
    cut = fit(long, window=128, reply_tokens=32)
    kept = len(cut.messages[0]["content"])
    assert cut.cut_from == len(long[0]["content"]) and kept < 400
    assert cut.notice == (f"Your message was cut to its last {kept:,} of {cut.cut_from:,} characters "
                          "to fit the model's 128-token window.")

    # The system prompt is kept first while it leaves room for the question.
    system = [{"role": "system", "content": "Be brief."}] + turns
    fitted = fit(system, window=128, reply_tokens=32)
    assert fitted.messages[0] == {"role": "system", "content": "Be brief."} and fitted.messages[-1]["content"] == "question?"
    huge = [{"role": "system", "content": "rule " * 200}, {"role": "user", "content": "hi"}]
    assert fit(huge, window=128, reply_tokens=32).notice.startswith("The system prompt was left out")


def test_prompt_too_long_is_a_400():
    assert PromptTooLong("too long").status_code == 400


@pytest.mark.django_db
def test_a_too_long_prompt_is_retried_shorter(backend, model_server, user):
    """The backend claims a larger window than the model has: the model refuses, the chat app cuts."""
    from chat import services

    backend.context_window = 2048
    backend.save()
    conversation = services.get_or_create_conversation(user, "1", "retry")
    for i in range(30):
        services.add_message(conversation, "user", f"older note {i} about rivers and mills")
    reply = services.ask(conversation, "The cat slept")
    assert reply.strip()
    sizes = [len(r["body"]["messages"]) for r in model_server.requests]
    assert len(sizes) >= 2 and sizes[-1] < sizes[0]
