"""The functions the training app calls: register a result, load a version back."""

import pytest

from core.errors import InvalidInput, NotFound
from hub.models import Repository
from registry import selectors, services
from registry.models import AiApplication, VersionSource, VersionStatus

pytestmark = pytest.mark.django_db


def test_register_training_result_snapshots_the_folder_into_the_hub(user, tiny_model_dir, tiny_parameter_count):
    version = services.register_training_result(
        owner=user,
        application_name="tiny-chat",
        folder=tiny_model_dir,
        description="LoRA run 7",
        hyper_parameters={"learning_rate": 1e-4, "epochs": 2},
        training_task_id=7,
    )
    assert version.status == VersionStatus.IMPORTED
    assert version.source == VersionSource.TRAINING
    assert version.version == "0.0.1" and version.number == 1
    assert version.train_task_version_id == "7"
    assert version.parameter_count == tiny_parameter_count
    assert version.model_structure == "GPT2LMHeadModel" and version.model_type == "gpt2"
    expected = sum(p.stat().st_size for p in tiny_model_dir.rglob("*") if p.is_file())
    assert version.size_bytes == expected
    assert {h["paramName"]: h["value"] for h in version.hyper_parameters} == {"learning_rate": "0.0001", "epochs": "2"}

    app = AiApplication.objects.get(owner=user, name="tiny-chat")
    repo = Repository.objects.get(pk=app.repository_id)
    assert repo.owner == user and repo.type == "model" and repo.private
    assert repo.head_id == version.commit_id

    second = services.register_training_result(owner=user, application_name="tiny-chat", folder=tiny_model_dir)
    assert (second.number, second.version) == (2, "0.0.2")
    assert second.commit_id != version.commit_id
    assert AiApplication.objects.filter(owner=user).count() == 1


def test_materialize_version_loads_with_from_pretrained(user, tiny_model_dir, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    version = services.register_training_result(owner=user, application_name="tiny", folder=tiny_model_dir)
    found = selectors.resolve_version(user, version.uid)
    path = selectors.materialize_version(found, tmp_path / "copy")
    assert path == tmp_path / "copy"
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        assert (path / name).read_bytes() == (tiny_model_dir / name).read_bytes()
    ids = torch.tensor([[1, 2, 3]])
    with torch.no_grad():
        original = AutoModelForCausalLM.from_pretrained(tiny_model_dir)(input_ids=ids).logits
        loaded = AutoModelForCausalLM.from_pretrained(path)(input_ids=ids).logits
    assert torch.equal(original, loaded)


def test_other_users_versions_are_not_found(user, other_user, tiny_model_dir):
    version = services.register_training_result(owner=user, application_name="mine", folder=tiny_model_dir)
    assert selectors.resolve_version(user, version.pk) == version
    with pytest.raises(NotFound):
        selectors.resolve_version(other_user, version.uid)
    with pytest.raises(NotFound):
        selectors.resolve_version(other_user, str(version.pk))


def test_register_refuses_a_missing_or_empty_folder(user, tmp_path):
    with pytest.raises(InvalidInput):
        services.register_training_result(owner=user, application_name="x", folder=tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInput):
        services.register_training_result(owner=user, application_name="x", folder=tmp_path / "empty")
    assert not AiApplication.objects.exists()
