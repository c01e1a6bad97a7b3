"""The key test: a tiny model uploaded through Crucible's API loads back with the
field's own clients (huggingface_hub.snapshot_download, transformers.from_pretrained)
against a live server, with the same outputs as the original."""

import hashlib
import os
from pathlib import Path

import pytest
import torch
from huggingface_hub import snapshot_download
from huggingface_hub.errors import RepositoryNotFoundError
from rest_framework.test import APIClient

from accounts.services import issue_tokens
from hub.models import Repository
from tests.hf import point_hf_clients_at

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def hf_endpoint(live_server, monkeypatch, tmp_path):
    return point_hf_clients_at(live_server.url, monkeypatch, tmp_path)


def upload_folder(client, folder, owner, name, private):
    created = client.post(
        "/api/v1/hub/repos", {"name": name, "type": "model", "private": private}, format="json"
    )
    assert created.status_code == 201, created.content
    handles, paths = [], []
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file():
            handles.append(path.open("rb"))
            paths.append(path.relative_to(folder).as_posix())
    try:
        response = client.post(
            f"/api/v1/hub/repos/model/{owner}/{name}/upload",
            {"files": handles, "paths": paths, "message": "Upload tiny GPT-2"},
            format="multipart",
        )
    finally:
        for handle in handles:
            handle.close()
    assert response.status_code == 201, response.content
    return response.json()["id"]


def reference_logits(folder):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    inputs = tokenizer("The river runs past the old mill", return_tensors="pt")
    with torch.no_grad():
        return inputs["input_ids"], model(**inputs).logits


def test_snapshot_download_and_from_pretrained_match_the_original(user, hf_endpoint, tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    client = APIClient()
    access, _ = issue_tokens(user)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    commit = upload_folder(client, tiny_model_dir, "alice", "tiny-gpt2", private=False)

    local = snapshot_download("alice/tiny-gpt2", endpoint=hf_endpoint, cache_dir=tmp_path / "cache")
    assert Path(local).name == commit
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        assert (Path(local) / name).read_bytes() == (tiny_model_dir / name).read_bytes()

    input_ids, expected = reference_logits(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained("alice/tiny-gpt2", cache_dir=tmp_path / "tf-cache")
    model = AutoModelForCausalLM.from_pretrained("alice/tiny-gpt2", cache_dir=tmp_path / "tf-cache")
    inputs = tokenizer("The river runs past the old mill", return_tensors="pt")
    assert torch.equal(inputs["input_ids"], input_ids)
    with torch.no_grad():
        logits = model(**inputs).logits
    assert torch.allclose(logits, expected, atol=1e-6)
    # snapshot_download and from_pretrained each fetched config.json once.
    assert Repository.objects.get(full_name="alice/tiny-gpt2").downloads == 2


def test_private_repository_needs_a_token(user, other_user, hf_endpoint, tiny_model_dir, tmp_path, monkeypatch):
    from accounts.services import create_api_key
    from hub import hf, storage

    # Serve the weights as an "LFS" file (ETag = sha256, X-Linked-* headers), as the Hub does for big files.
    monkeypatch.setattr(storage, "LFS_THRESHOLD", 100_000)
    monkeypatch.setattr(hf, "LFS_THRESHOLD", 100_000)

    client = APIClient()
    access, _ = issue_tokens(user)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    upload_folder(client, tiny_model_dir, "alice", "secret-gpt2", private=True)

    with pytest.raises(RepositoryNotFoundError):
        snapshot_download("alice/secret-gpt2", endpoint=hf_endpoint, cache_dir=tmp_path / "anon", token=False)
    bob_access, _ = issue_tokens(other_user)
    with pytest.raises(RepositoryNotFoundError):
        snapshot_download("alice/secret-gpt2", endpoint=hf_endpoint, cache_dir=tmp_path / "bob", token=bob_access)

    # JWT as Bearer token.
    local = snapshot_download("alice/secret-gpt2", endpoint=hf_endpoint, cache_dir=tmp_path / "jwt", token=access)
    weights = (Path(local) / "model.safetensors").read_bytes()
    assert weights == (tiny_model_dir / "model.safetensors").read_bytes()
    # The cache names blobs by ETag: the sha256 for LFS files.
    blob_names = {p.name for p in (tmp_path / "jwt").rglob("blobs/*")}
    assert hashlib.sha256(weights).hexdigest() in blob_names

    # API key "secret_id:secret_key", also through from_pretrained.
    from transformers import AutoModelForCausalLM

    key = create_api_key(user)
    token = f"{key[0].secret_id}:{key[1]}"
    model = AutoModelForCausalLM.from_pretrained("alice/secret-gpt2", token=token, cache_dir=tmp_path / "key")
    input_ids, expected = reference_logits(tiny_model_dir)
    with torch.no_grad():
        assert torch.allclose(model(input_ids=input_ids).logits, expected, atol=1e-6)
    assert os.environ["HF_ENDPOINT"] == hf_endpoint
