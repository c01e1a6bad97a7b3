"""hub.seed: idempotent demo data with real tiny models."""

import io
import json

import pytest

from hub import seed, selectors
from hub.models import Repository
from hub.storage import open_blob

pytestmark = pytest.mark.django_db


def test_seed_is_idempotent_and_holds_real_models(api_client):
    out = io.StringIO()
    seed.run(out)
    count = Repository.objects.count()
    assert 30 <= count <= 40
    seed.run(out)
    assert Repository.objects.count() == count
    assert "(0 new)" in out.getvalue().splitlines()[-1]

    labels = api_client.get("/api/modelLabel").json()["data"]
    assert labels["task"][:3] == ["Robotics", "Feature Extraction", "Text-to-Image"]
    assert "Token Classification" in labels["task"] and "conll2003" in labels["dataset"]
    listed = api_client.get("/modelList", {"task": "Token Classification"}).json()["data"]
    assert listed["numTotalItems"] >= 3

    gpt2 = Repository.objects.get(full_name=seed.TINY_GPT2)
    paths = set(gpt2.head.entries.values_list("path", flat=True))
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md"} <= paths
    assert selectors.repo_tags_by_category(gpt2)["task"] == ["Text Generation"]
    assert selectors.repo_tags_by_category(gpt2, ids=True)["task"] == ["text-generation"]
    with open_blob(selectors.entry_at(gpt2.head, "config.json").blob) as handle:
        config = json.load(handle)
    assert config["model_type"] == "gpt2" and config["n_layer"] == 2 and config["n_embd"] == 64

    dataset = Repository.objects.get(full_name=seed.TINY_TEXT, type="dataset")
    splits = sorted(p for p in dataset.head.entries.values_list("path", flat=True) if p.endswith(".jsonl"))
    assert splits == ["test/test.jsonl", "train/train.jsonl", "validate/validate.jsonl"]
    with open_blob(selectors.entry_at(dataset.head, "train/train.jsonl").blob) as handle:
        assert "text" in json.loads(handle.readline())

    minilm = Repository.objects.get(full_name=seed.MINILM)
    weights = selectors.entry_at(minilm.head, "model.safetensors").blob
    assert weights.size == (seed.minilm_folder() / "model.safetensors").stat().st_size
