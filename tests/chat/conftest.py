import pytest

from chat.models import ChatBackend, PromptExample

from .openai_server import OpenAICompatibleServer, TinyChatModel

API_KEY = "sk-test-chat-backend"


@pytest.fixture(scope="session")
def tiny_chat_model(tmp_path_factory):
    from hub.tiny_models import build_tiny_gpt2

    folder = build_tiny_gpt2(tmp_path_factory.mktemp("tiny-chat-gpt2"), train_steps=30)
    return TinyChatModel(folder)


@pytest.fixture(scope="session")
def model_server(tiny_chat_model):
    with OpenAICompatibleServer(tiny_chat_model, api_key=API_KEY) as server:
        yield server


@pytest.fixture
def backend(db, model_server):
    model_server.requests.clear()
    return ChatBackend.objects.create(
        name="tiny", base_url=model_server.base_url, api_key=API_KEY, model_name="tiny-gpt2",
        context_window=128, max_tokens=12, temperature=0.0, is_default=True,
    )


@pytest.fixture
def prompts(db):
    return [
        PromptExample.objects.create(title=f"公开示例{i}", text=f"text {i}", is_public=True) for i in range(10)
    ]
