"""training.lineage: a result names its base model publicly and holds no server path."""

import json
from pathlib import Path

from django.conf import settings

from training.lineage import leaks, publish


def test_a_peft_adapter_folder_is_rewritten_to_name_its_base_and_no_path(tmp_path):
    root = Path(settings.DATA_DIR) / "training" / "llm" / "77"
    final = root / "final"
    final.mkdir(parents=True)
    base = str(root / "base_model")
    (final / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": base, "peft_type": "LORA"}))
    (final / "README.md").write_text(f"---\nbase_model: {base}\nlibrary_name: peft\ntags:\n- base_model:adapter:{base}\n"
                                     "- lora\n---\n# Model Card\n")
    (final / "trainer_state.json").write_text(json.dumps({"best_model_checkpoint": str(root / "checkpoints/checkpoint-5")}))
    (final / "training_args.bin").write_bytes(b"\x80\x04pickle with " + str(root).encode())
    (final / "adapter_model.safetensors").write_bytes(b"\x00" * 16)
    assert leaks(final) == ["README.md", "adapter_config.json", "trainer_state.json", "training_args.bin"]

    changed = publish(final, work_root=root, base_name="crucible/tiny-gpt2")

    assert sorted(changed) == ["README.md", "adapter_config.json", "trainer_state.json", "training_args.bin"]
    assert leaks(final) == []
    assert json.loads((final / "adapter_config.json").read_text())["base_model_name_or_path"] == "crucible/tiny-gpt2"
    card = (final / "README.md").read_text()
    assert "base_model: crucible/tiny-gpt2" in card and "base_model:adapter:crucible/tiny-gpt2" in card
    assert json.loads((final / "trainer_state.json").read_text())["best_model_checkpoint"] == "./checkpoints/checkpoint-5"
    assert not (final / "training_args.bin").exists() and (final / "adapter_model.safetensors").exists()


def test_a_hub_base_model_is_copied_by_the_hubs_materialize_and_named_by_its_repository(db, user, tmp_path):
    from tests.hub.factories import make_repo
    from training.execution import materialize_model
    from training.lineage import base_model_name
    from training.models import LlmTask

    make_repo(user, "base", files={"config.json": b'{"model_type": "gpt2"}', "tokenizer.json": b"{}"})
    task = LlmTask.objects.create(owner=user, name="t", model_source="hub", model_ref="alice/base",
                                  data_source="files", data_ref="Data")
    materialize_model(task, tmp_path / "base_model")
    assert json.loads((tmp_path / "base_model" / "config.json").read_text()) == {"model_type": "gpt2"}
    assert base_model_name(task) == "alice/base"
