"""The Hugging Face write API against a live server, with the field's own clients:
huggingface_hub's HfApi (create_repo, upload_folder, upload_file, create_commit, delete_file,
create_branch/create_tag, list_repo_commits/refs) and transformers' push_to_hub."""

import hashlib
import os
from pathlib import Path

import pytest
import torch
from huggingface_hub import CommitOperationAdd, CommitOperationCopy, CommitOperationDelete, HfApi, snapshot_download
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError
from huggingface_hub.utils import get_session

from accounts.models import StorageQuota
from accounts.services import issue_tokens
from hub import hf, storage
from hub.models import Blob, LfsObject, LfsUpload, Repository
from tests.hf import point_hf_clients_at

pytestmark = pytest.mark.django_db(transaction=True)

LFS_TEST_THRESHOLD = 100_000


@pytest.fixture
def hf_endpoint(live_server, monkeypatch, tmp_path):
    point_hf_clients_at(live_server.url, monkeypatch, tmp_path)
    # Files from 100 kB are LFS files (the safetensors weights of the tiny model are ~1 MB).
    monkeypatch.setattr(storage, "LFS_THRESHOLD", LFS_TEST_THRESHOLD)
    monkeypatch.setattr(hf, "LFS_THRESHOLD", LFS_TEST_THRESHOLD)
    return live_server.url


@pytest.fixture
def alice_api(user, hf_endpoint):
    access, _ = issue_tokens(user)
    return HfApi(endpoint=hf_endpoint, token=access)


@pytest.fixture
def bob_api(other_user, hf_endpoint):
    access, _ = issue_tokens(other_user)
    return HfApi(endpoint=hf_endpoint, token=access)


def stored_files():
    root = storage.local_root() / "hub"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_upload_folder_then_download_the_same_weights(alice_api, bob_api, hf_endpoint, tiny_model_dir, tmp_path):
    url = alice_api.create_repo("tiny-gpt2", private=True)
    assert url.repo_id == "alice/tiny-gpt2"
    # exist_ok: a second create answers 409, which the client accepts.
    assert alice_api.create_repo("tiny-gpt2", private=True, exist_ok=True).repo_id == "alice/tiny-gpt2"

    info = alice_api.upload_folder(repo_id="alice/tiny-gpt2", folder_path=tiny_model_dir, commit_message="Add model")
    repo = Repository.objects.get(full_name="alice/tiny-gpt2")
    assert repo.private and repo.head.oid == info.oid
    weights = Blob.objects.get(entries__commit=repo.head, entries__path="model.safetensors")
    assert weights.size > LFS_TEST_THRESHOLD
    assert weights.sha256 == hashlib.sha256((tiny_model_dir / "model.safetensors").read_bytes()).hexdigest()
    assert LfsObject.objects.filter(repo=repo, blob=weights).exists()

    local = Path(snapshot_download("alice/tiny-gpt2", endpoint=hf_endpoint, token=alice_api.token, cache_dir=tmp_path / "c"))
    for path in tiny_model_dir.rglob("*"):
        if path.is_file():
            assert (local / path.relative_to(tiny_model_dir)).read_bytes() == path.read_bytes()

    # Another user sees nothing: 404 on reads and writes.
    with pytest.raises(RepositoryNotFoundError):
        bob_api.model_info("alice/tiny-gpt2")
    with pytest.raises(RepositoryNotFoundError):
        bob_api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="alice/tiny-gpt2")

    # Deleting a file makes a new commit without it.
    alice_api.delete_file("tokenizer_config.json", repo_id="alice/tiny-gpt2")
    files = alice_api.list_repo_files("alice/tiny-gpt2")
    assert "tokenizer_config.json" not in files and "model.safetensors" in files
    commits = alice_api.list_repo_commits("alice/tiny-gpt2")
    assert [c.title for c in commits[:2]] == ["Delete tokenizer_config.json with huggingface_hub", "Add model"]
    assert commits[1].commit_id == info.oid

    # Branches and tags point at commits; a commit to a branch leaves main alone.
    alice_api.create_branch("alice/tiny-gpt2", branch="dev")
    alice_api.create_tag("alice/tiny-gpt2", tag="v1", revision=info.oid)
    alice_api.upload_file(path_or_fileobj=b"dev notes\n", path_in_repo="NOTES.md", repo_id="alice/tiny-gpt2", revision="dev")
    refs = alice_api.list_repo_refs("alice/tiny-gpt2")
    assert {b.name for b in refs.branches} == {"main", "dev"}
    assert [(t.name, t.target_commit) for t in refs.tags] == [("v1", info.oid)]
    assert "NOTES.md" in alice_api.list_repo_files("alice/tiny-gpt2", revision="dev")
    assert "NOTES.md" not in alice_api.list_repo_files("alice/tiny-gpt2")
    assert "tokenizer_config.json" in alice_api.list_repo_files("alice/tiny-gpt2", revision="v1")

    # A copy and a folder deletion in one commit.
    alice_api.create_commit(
        "alice/tiny-gpt2",
        operations=[
            CommitOperationCopy(src_path_in_repo="model.safetensors", path_in_repo="backup/model.safetensors"),
            CommitOperationCopy(src_path_in_repo="config.json", path_in_repo="backup/config.json"),
        ],
        commit_message="Back up",
    )
    assert {"backup/model.safetensors", "backup/config.json"} <= set(alice_api.list_repo_files("alice/tiny-gpt2"))
    alice_api.create_commit(
        "alice/tiny-gpt2", operations=[CommitOperationDelete("backup/", is_folder=True)], commit_message="Drop backup"
    )
    assert not any(f.startswith("backup/") for f in alice_api.list_repo_files("alice/tiny-gpt2"))


def test_push_to_hub_model_and_tokenizer(alice_api, hf_endpoint, tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model.push_to_hub("pushed-gpt2", token=alice_api.token, private=True)
    tokenizer.push_to_hub("pushed-gpt2", token=alice_api.token)

    repo = Repository.objects.get(full_name="alice/pushed-gpt2")
    assert repo.private and repo.commits.count() == 2
    # The card transformers writes is read for tags, as for any commit.
    assert repo.tags.filter(category="library", slug="transformers", name="Transformers").exists()

    loaded = AutoModelForCausalLM.from_pretrained("alice/pushed-gpt2", token=alice_api.token, cache_dir=tmp_path / "c")
    loaded_tokenizer = AutoTokenizer.from_pretrained("alice/pushed-gpt2", token=alice_api.token, cache_dir=tmp_path / "c")
    inputs = loaded_tokenizer("The river runs past the old mill", return_tensors="pt")
    assert torch.equal(inputs["input_ids"], tokenizer("The river runs past the old mill", return_tensors="pt")["input_ids"])
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name


def test_datasets_and_delete_repo(alice_api, tmp_path):
    before = stored_files()
    alice_api.create_repo("corpus", repo_type="dataset")
    alice_api.upload_file(path_or_fileobj=os.urandom(1000), path_in_repo="data/train.bin", repo_id="alice/corpus", repo_type="dataset")
    assert alice_api.list_repo_files("alice/corpus", repo_type="dataset") == ["data/train.bin"]
    assert len(stored_files()) == len(before) + 1
    alice_api.delete_repo("alice/corpus", repo_type="dataset")
    assert not Repository.objects.filter(full_name="alice/corpus").exists()
    assert stored_files() == before  # its content went with it


def batch(api, repo_id, objects, transfers=("basic", "multipart")):
    response = get_session().post(
        f"{api.endpoint}/{repo_id}.git/info/lfs/objects/batch",
        json={"operation": "upload", "transfers": list(transfers), "objects": objects, "hash_algo": "sha256"},
        headers={"Authorization": f"Bearer {api.token}", "Accept": "application/vnd.git-lfs+json"},
    )
    return response


def test_wrong_sha256_or_size_is_refused_and_nothing_is_stored(alice_api):
    before = stored_files()
    alice_api.create_repo("checked")
    content = os.urandom(200_000)
    wrong = hashlib.sha256(b"something else").hexdigest()
    answer = batch(alice_api, "alice/checked", [{"oid": wrong, "size": len(content)}])
    assert answer.status_code == 200, answer.text
    href = answer.json()["objects"][0]["actions"]["upload"]["href"]
    refused = get_session().put(href, content=content)
    assert refused.status_code == 400 and "sha256" in refused.json()["error"]
    # A body of another size than announced is refused before it is read.
    right = hashlib.sha256(content).hexdigest()
    href = batch(alice_api, "alice/checked", [{"oid": right, "size": len(content)}]).json()["objects"][0]["actions"]["upload"]["href"]
    assert get_session().put(href, content=content[:-1]).status_code == 400
    assert Blob.objects.count() == 0 and stored_files() == before
    # A commit naming content that was never uploaded is refused.
    with pytest.raises(HfHubHTTPError):
        alice_api.create_commit(
            "alice/checked",
            operations=[_lfs_addition_without_upload(right, len(content))],
            commit_message="forged",
        )
    assert Repository.objects.get(full_name="alice/checked").head is None


def _lfs_addition_without_upload(sha256, size):
    op = CommitOperationAdd(path_in_repo="weights.bin", path_or_fileobj=b"0" * 10)
    op._upload_mode = "lfs"
    op._is_uploaded = True
    op.upload_info.sha256 = bytes.fromhex(sha256)
    op.upload_info.size = size
    return op


def test_upload_over_quota_is_refused_before_anything_is_stored(alice_api, user):
    before = stored_files()
    alice_api.create_repo("small")
    StorageQuota.objects.create(user=user, bytes_quota=150_000, inodes_quota=10)
    with pytest.raises(HfHubHTTPError) as refused:
        alice_api.upload_file(path_or_fileobj=os.urandom(200_000), path_in_repo="big.bin", repo_id="alice/small")
    assert refused.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError):
        alice_api.upload_file(path_or_fileobj=os.urandom(90_000) * 2, path_in_repo="two.bin", repo_id="alice/small")
    assert Blob.objects.count() == 0 and stored_files() == before
    alice_api.upload_file(path_or_fileobj=b"fits", path_in_repo="ok.txt", repo_id="alice/small")
    assert alice_api.list_repo_files("alice/small") == ["ok.txt"]


def test_interrupted_multipart_upload_resumes_with_the_missing_parts(alice_api, settings, tmp_path):
    settings.HUB_LFS_PART_BYTES = 64 * 1024
    alice_api.create_repo("resumed")
    content = os.urandom(5 * 64 * 1024 + 1000)  # six parts, the last one short
    oid, size = hashlib.sha256(content).hexdigest(), len(content)
    part = 64 * 1024

    first = batch(alice_api, "alice/resumed", [{"oid": oid, "size": size}]).json()
    upload = first["objects"][0]["actions"]["upload"]
    assert first["transfer"] == "multipart" and upload["header"]["chunk_size"] == str(part)
    urls = [upload["header"][str(n)] for n in range(1, 7)]
    etags = {}
    for number in (1, 2, 3):  # ... and then the connection drops
        response = get_session().put(urls[number - 1], content=content[(number - 1) * part : number * part])
        assert response.status_code == 200
        etags[number] = response.headers["ETag"]

    # Asking again shows what is stored; only the missing parts are sent.
    again = batch(alice_api, "alice/resumed", [{"oid": oid, "size": size}]).json()["objects"][0]
    assert again["completed_parts"] == {str(n): e for n, e in etags.items()}
    sent = 0
    for number in (4, 5, 6):
        chunk = content[(number - 1) * part : number * part]
        response = get_session().put(again["actions"]["upload"]["header"][str(number)], content=chunk)
        etags[number] = response.headers["ETag"]
        sent += len(chunk)
    assert sent == size - 3 * part
    done = get_session().post(
        again["actions"]["upload"]["href"],
        json={"oid": oid, "parts": [{"partNumber": n, "etag": e} for n, e in sorted(etags.items())]},
    )
    assert done.status_code == 200, done.text
    assert get_session().post(again["actions"]["verify"]["href"], json={"oid": oid, "size": size}).status_code == 200
    assert not LfsUpload.objects.exists()
    blob = Blob.objects.get(sha256=oid)
    assert (storage.local_root() / blob.storage_name).read_bytes() == content

    # The client's own multipart path (which sends every part) commits the same object.
    other = os.urandom(3 * part)
    path = tmp_path / "other.bin"
    path.write_bytes(other)
    alice_api.upload_file(path_or_fileobj=str(path), path_in_repo="other.bin", repo_id="alice/resumed")
    assert Blob.objects.get(entries__path="other.bin").sha256 == hashlib.sha256(other).hexdigest()
    # And the object uploaded by hand commits by its oid.
    alice_api.create_commit("alice/resumed", operations=[_lfs_addition_without_upload(oid, size)], commit_message="w")
    assert "weights.bin" in alice_api.list_repo_files("alice/resumed")
