import pytest

from registry import services

pytestmark = pytest.mark.django_db


def test_list_and_detail(client, user, other_user, tiny_model_dir, tiny_parameter_count):
    version = services.register_training_result(
        owner=user, application_name="tiny-chat", folder=tiny_model_dir, hyper_parameters={"learning_rate": 1e-4}
    )
    client.force_login(user)
    listing = client.get("/registry/").content.decode()
    assert "tiny-chat" in listing and "alice/tiny-chat" in listing and 'href="/registry/"' in listing
    detail = client.get(f"/registry/{version.application.uid}/").content.decode()
    for text in ("0.0.1", "Training result", "GPT2LMHeadModel", str(tiny_parameter_count), "learning_rate",
                 "/hub/model/alice/tiny-chat/", version.commit.oid[:12]):
        assert text in detail, text
    client.force_login(other_user)
    assert "tiny-chat" not in client.get("/registry/").content.decode()
    assert client.get(f"/registry/{version.application.uid}/").status_code == 404


def test_register_a_hub_model_from_the_page_with_a_picker(client, user, other_user, tiny_model_dir):
    from hub.models import Repository
    from registry.models import AiApplicationVersion
    from tests.hub.factories import make_repo

    files = {p.relative_to(tiny_model_dir).as_posix(): p.read_bytes() for p in tiny_model_dir.rglob("*") if p.is_file()}
    make_repo(user, "tiny-base", files=files)
    make_repo(other_user, "bobs-secret", private=True, files={"config.json": b"{}"})
    client.force_login(user)
    form = client.get("/registry/new/").content.decode()
    assert '<option value="alice/tiny-base">' in form and "bobs-secret" not in form
    response = client.post("/registry/new/", {"application": "tiny-chat", "source": "hub", "hub_model": "alice/tiny-base"})
    version = AiApplicationVersion.objects.get(application__name="tiny-chat")
    assert response.status_code == 302 and response["Location"] == f"/registry/{version.application.uid}/"
    detail = client.get(response["Location"]).content.decode()
    assert version.uid in detail and f"/training/?version={version.uid}" in detail
    assert f"/serving/?version={version.uid}" in detail and f"/evaluation/?version={version.uid}" in detail
    # Bob's private model is not his to register, whatever the name typed.
    refused = client.post("/registry/new/", {"application": "x", "source": "hub", "hub_model": "bob/bobs-secret"})
    assert refused.status_code == 400 and "not found" in refused.content.decode()
    assert Repository.objects.filter(full_name="alice/x").count() == 0


def test_register_a_folder_of_files_is_imported_by_a_job(client, user, tiny_model_dir):
    from registry.models import AiApplicationVersion, VersionImportJob
    from tests.registry.helpers import put_folder

    put_folder(user, tiny_model_dir, "Model")
    client.force_login(user)
    assert '<option value="/Model">' in client.get("/registry/new/").content.decode()
    missing = client.post("/registry/new/", {"application": "tiny", "source": "files", "folder": "/Nope"})
    assert missing.status_code == 400 and "no folder /Nope" in missing.content.decode()
    assert client.post("/registry/new/", {"application": "tiny", "source": "files", "folder": ""}).status_code == 400
    response = client.post("/registry/new/", {"application": "tiny", "source": "files", "folder": "/Model"})
    assert response.status_code == 302
    version = AiApplicationVersion.objects.get(application__name="tiny")
    assert version.save_path == "Model" and VersionImportJob.objects.filter(version=version).exists()
