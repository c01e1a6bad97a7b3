import pytest

from hub.tiny_models import build_tiny_gpt2


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    return build_tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"), train_steps=5)
