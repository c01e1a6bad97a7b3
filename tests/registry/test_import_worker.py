"""Version imports on a real worker: the tiny model from local files becomes a hub commit
that huggingface_hub downloads; an image version records its image; failures are reported."""

import json
from pathlib import Path

import pytest
from django.db import transaction
from huggingface_hub import snapshot_download

from accounts.services import issue_tokens
from images.builders import build_docker_save, demo_files
from images.models import ImageImportJob, ImageStatus
from registry.models import AiApplicationVersion, VersionImportJob, VersionStatus
from tests.images.helpers import put_file
from tests.hf import point_hf_clients_at
from tests.registry.helpers import create_body, put_folder
from tests.worker import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

CREATE = "/model/aiApplication/createAiApplication"
VERSION = "/model/aiApplicationVersion/getAiApplicationVersionDetail"


@pytest.fixture
def hf_endpoint(live_server, monkeypatch, tmp_path):
    return point_hf_clients_at(live_server.url, monkeypatch, tmp_path)


def wait_for_import(version_uid):
    job = VersionImportJob.objects.get(version__uid=version_uid)
    wait_until(lambda: VersionImportJob.objects.get(pk=job.pk).is_finished, timeout=90, message="version import")
    job.refresh_from_db()
    return job, AiApplicationVersion.objects.get(uid=version_uid)


def test_local_files_version_counts_parameters_and_downloads_through_the_hub(
    celery_worker, auth_client, user, other_user, tiny_model_dir, tiny_parameter_count, hf_endpoint, tmp_path
):
    put_folder(user, tiny_model_dir, "Model/tiny-gpt2")
    response = auth_client.post(CREATE, create_body(name="tiny-gpt2", versions=[{"source": 3, "savePath": "/Model/tiny-gpt2"}]), format="json")
    assert response.status_code == 200, response.content
    uid = response.json()["data"]["aiApplicationVersionList"][0]["id"]
    job, version = wait_for_import(uid)
    assert job.status == "succeeded", (job.error, job.log)
    assert version.status == VersionStatus.IMPORTED
    detail = auth_client.get(VERSION, {"aiApplicationVersionId": uid}).json()["data"]
    assert detail["parameterCount"] == tiny_parameter_count and detail["status"] == 2
    expected_bytes = sum(p.stat().st_size for p in tiny_model_dir.rglob("*") if p.is_file())
    assert detail["size"] == pytest.approx(expected_bytes / 1024)
    assert detail["modelStructure"] == "GPT2LMHeadModel"

    access, _ = issue_tokens(user)
    local = snapshot_download(
        "alice/tiny-gpt2", revision=detail["commit"], endpoint=hf_endpoint, cache_dir=tmp_path / "cache", token=access
    )
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        assert (Path(local) / name).read_bytes() == (tiny_model_dir / name).read_bytes()
    # Private: bob cannot download it.
    from huggingface_hub.errors import RepositoryNotFoundError

    bob, _ = issue_tokens(other_user)
    with pytest.raises(RepositoryNotFoundError):
        snapshot_download("alice/tiny-gpt2", endpoint=hf_endpoint, cache_dir=tmp_path / "bob", token=bob)


def test_image_version_and_a_failed_import(celery_worker, auth_client, user):
    data, details = build_docker_save(demo_files())
    put_file(user, "Image/serve.tar", data)
    started = auth_client.post(
        "/docker/image/uploadOld", {"imageName": "serve", "imageTag": "1.0", "fileUrl": "Image/serve.tar"}, format="json"
    )
    assert started.status_code == 200, started.content
    wait_until(lambda: ImageImportJob.objects.get().is_finished, timeout=60, message="image import")
    assert ImageImportJob.objects.get().image_tag.status == ImageStatus.SUCCESS

    put_file(user, "Model/config.json", json.dumps({"model_type": "bert", "architectures": ["BertModel"]}).encode())
    body = create_body(name="served", versions=[{"source": 2, "image": "serve:1.0", "savePath": "/Model"}])
    response = auth_client.post(CREATE, body, format="json")
    assert response.status_code == 200, response.content
    uid = response.json()["data"]["aiApplicationVersionList"][0]["id"]
    job, version = wait_for_import(uid)
    assert job.status == "succeeded", (job.error, job.log)
    assert sorted(f["path"] for f in version.files) == ["config.json", "crucible-image.json"]
    assert version.model_structure == "BertModel" and version.image_type == 1
    from hub.selectors import entry_at
    from hub.storage import open_blob

    with open_blob(entry_at(version.commit, "crucible-image.json").blob) as handle:
        recorded = json.load(handle)
    assert recorded["id"] == details["config_digest"] and recorded["tag"] == "1.0"

    # The files vanish before the import runs: the version fails with the reason.
    from files.services import delete_path

    put_file(user, "Gone/config.json", b"{}")
    with transaction.atomic():  # the import job is enqueued when this commits: after the files are gone
        with_gone = auth_client.post(CREATE, create_body(name="served", versions=[{"source": 3, "savePath": "/Gone"}]),
                                     format="json")
        assert with_gone.status_code == 200
        gone_uid = with_gone.json()["data"]["aiApplicationVersionList"][0]["id"]
        delete_path(actor=user, owner=user, space="private", path="Gone")
    job, version = wait_for_import(gone_uid)
    assert job.status == "failed" and version.status == VersionStatus.FAILED
    assert "Gone" in version.error and version.commit is None
    detail = auth_client.get(VERSION, {"aiApplicationVersionId": gone_uid}).json()["data"]
    assert detail["statusName"] == "Failed" and detail["error"]
