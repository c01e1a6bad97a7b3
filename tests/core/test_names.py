"""Names users choose refuse bidirectional and control characters (core.validators), through HTTP."""

import pytest

from core.errors import InvalidInput
from core.validators import validate_name_characters
from files.models import FileNode
from hub.models import Repository
from registry.models import AiApplication
from tests.files.helpers import UPLOAD_FOLDER, a_file
from tests.hub.factories import make_repo, multipart_files
from tests.images.helpers import put_file
from tests.registry.helpers import create_body

pytestmark = pytest.mark.django_db

# Shows as "reportexe.pdf" in a listing: U+202E RIGHT-TO-LEFT OVERRIDE.
SPOOFED = "report\u202efdp.exe"


@pytest.mark.parametrize(
    "char", ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069",
             "\u200e", "\u200f", "\u061c", "\x00", "\n", "\x1b", "\x7f", "\x85", "\u2028", "\u2029"],
)
def test_the_shared_validator_refuses_every_bidi_and_control_character(char):
    with pytest.raises(InvalidInput, match=f"U\\+{ord(char):04X}"):
        validate_name_characters(f"a{char}b", "name")


def test_ordinary_names_in_any_script_pass():
    for name in ["model.safetensors", "données été.csv", "模型 v2.bin", "نموذج.txt", "emoji-\U0001f600.md"]:
        assert validate_name_characters(name) == name


def test_hub_upload_refuses_a_spoofed_file_name(auth_client, user):
    make_repo(user)
    handles, paths = multipart_files({f"docs/{SPOOFED}": b"MZ"})
    response = auth_client.post(
        "/api/v1/hub/repos/model/alice/repo/upload", {"files": handles, "paths": paths}, format="multipart"
    )
    assert response.status_code == 400, response.content
    assert "U+202E" in response.json()["detail"]
    assert Repository.objects.get(full_name="alice/repo").head_id is None


def test_hub_refuses_a_spoofed_repository_name(auth_client, user):
    response = auth_client.post("/api/v1/hub/repos", {"name": "gpt\u202e2", "type": "model"}, format="json")
    assert response.status_code == 400, response.content
    assert not Repository.objects.exists()


def test_file_space_upload_refuses_a_spoofed_file_name(auth_client, user):
    # The name as a browser's folder upload sends it (relativePath), and as the folder.
    for fields in ({"relativePath": f"docs/{SPOOFED}", "currentPath": "/"}, {"currentPath": f"/{SPOOFED}"}):
        response = auth_client.post(UPLOAD_FOLDER, {"file": a_file("plain.bin", b"MZ"), **fields})
        assert response.status_code == 400, response.content
        assert response.json()["success"] is False and "U+202E" in response.json()["message"]
    folder = auth_client.post("/api/v1/files/folders", {"path": "/in\u2066side"}, format="json")
    assert folder.status_code == 400, folder.content
    assert not FileNode.objects.exists()


def test_registry_refuses_a_spoofed_application_name(auth_client, user):
    put_file(user, "Model/config.json", b'{"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}')
    response = auth_client.post(
        "/model/aiApplication/createAiApplication", create_body(name=SPOOFED), format="json"
    )
    assert response.status_code == 400, response.content
    assert "U+202E" in response.json()["message"]
    assert not AiApplication.objects.exists()
