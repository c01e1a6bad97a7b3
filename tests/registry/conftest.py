import pytest

from hub.tiny_models import build_tiny_gpt2


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """An untrained tiny GPT-2 (config.json, model.safetensors, tokenizer), built once."""
    return build_tiny_gpt2(tmp_path_factory.mktemp("registry-tiny-gpt2"), train_steps=0)


@pytest.fixture(scope="session")
def tiny_parameter_count(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(tiny_model_dir).num_parameters()
