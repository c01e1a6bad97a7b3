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
