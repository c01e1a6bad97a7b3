"""What jobs use: paths, open_file, list_folder, materialize, save_file, storage_usage."""

import json

import pytest
from django.core.files.base import ContentFile

from accounts.selectors import storage_status
from core.errors import InvalidInput, NotFound
from files import selectors, services
from files.paths import normalize_path

pytestmark = pytest.mark.django_db

LORA = {"fineTuneStrategy": "LoRA", "commonHyperParameters": [], "fineTuneHyperParameters": []}


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("", ""),
        ("/", ""),
        ("//upload//folder/", "upload/folder"),
        ("./a/./b", "a/b"),
        ("/Config/LoRA/config.json", "Config/LoRA/config.json"),
        ("数据/训练", "数据/训练"),
        ("notes:v2/c", "notes:v2/c"),
    ],
)
def test_normalize_path(raw, expected):
    assert normalize_path(raw) == expected


@pytest.mark.parametrize("raw", ["..", "a/../b", "a\\b", "D:", "c:/x", "a\x00", "a\nb", "a\x7f", "x" * 1025, "é" * 200])
def test_normalize_path_refuses(raw):
    with pytest.raises(InvalidInput):
        normalize_path(raw)


@pytest.fixture
def layout(user):
    """The training layout of platform-api.md section 1, written as a job would."""
    files = {
        "Data/train/part-0.jsonl": b'{"text": "a"}\n',
        "Data/validate/part-0.jsonl": b'{"text": "b"}\n',
        "Data/test/part-0.jsonl": b'{"text": "c"}\n',
        "Code/train.py": b"print('train')\n",
        "Config/LoRA/config.json": json.dumps(LORA).encode(),
        "Model/config.json": b"{}",
    }
    for path, content in files.items():
        services.save_file(owner=user, space="private", path=path, content=ContentFile(content, name="upload"))
    services.make_folder(actor=user, owner=user, space="private", path="Image")
    return files


def test_open_file_and_list_folder(user, layout):
    with selectors.open_file(user, "private", "/Config/LoRA/config.json") as handle:
        assert json.load(handle)["fineTuneStrategy"] == "LoRA"
    assert [n.name for n in selectors.list_folder(user, "private", "")] == [
        "Code", "Config", "Data", "Image", "Model",
    ]
    assert [n.name for n in selectors.list_folder(user, "private", "Data")] == ["test", "train", "validate"]
    with pytest.raises(NotFound):
        selectors.open_file(user, "private", "Data/train")
    with pytest.raises(NotFound):
        selectors.open_file(user, "public", "Code/train.py")


def test_materialize_a_folder_and_a_file(user, layout, tmp_path):
    written = selectors.materialize(user, "private", "Data", tmp_path / "data")
    assert sorted(p.relative_to(tmp_path / "data").as_posix() for p in written) == [
        "test/part-0.jsonl", "train/part-0.jsonl", "validate/part-0.jsonl",
    ]
    assert (tmp_path / "data/train/part-0.jsonl").read_bytes() == layout["Data/train/part-0.jsonl"]

    selectors.materialize(user, "private", "", tmp_path / "all")
    for path, content in layout.items():
        assert (tmp_path / "all" / path).read_bytes() == content
    assert (tmp_path / "all/Image").is_dir()

    selectors.materialize(user, "private", "Config/LoRA/config.json", tmp_path / "cfg")
    assert json.loads((tmp_path / "cfg/config.json").read_text()) == LORA
    with pytest.raises(NotFound):
        selectors.materialize(user, "private", "Nope", tmp_path / "nope")


def test_storage_usage_counts_files_and_folders_of_both_spaces(user, other_user, layout):
    services.save_file(owner=user, space="public", path="p/x.bin", content=ContentFile(b"12345", name="x"))
    services.save_file(owner=other_user, space="private", path="y.bin", content=ContentFile(b"123", name="y"))
    file_bytes = sum(len(c) for c in layout.values()) + 5
    # 7 files and 10 folders, each one inode.
    used_bytes, used_inodes = selectors.storage_usage(user)
    assert used_bytes == file_bytes
    assert used_inodes == 7 + len({"Data", "Data/train", "Data/validate", "Data/test", "Code", "Config",
                                   "Config/LoRA", "Model", "Image", "p"})
    status = storage_status(user)
    assert (status["used_bytes"], status["used_inodes"]) == (used_bytes, used_inodes)
    assert selectors.storage_usage(other_user) == (3, 1)


def test_demo_seed_writes_the_training_layout_once(db, tmp_path):
    import io

    from files import seed
    from tests.factories import UserFactory

    researcher = UserFactory(username="researcher")
    seed.run(io.StringIO())
    seed.run(io.StringIO())
    nodes = selectors.walk_files(researcher, "private", "")
    paths = {relative for relative, node in nodes if not node.is_dir}
    assert {"Data/train/train.jsonl", "Data/validate/validate.jsonl", "Data/test/test.jsonl",
            "Config/LoRA/config.json", "Config/FineTune/config.json", "Code/README.md"} == paths
    with selectors.open_file(researcher, "private", "Config/LoRA/config.json") as handle:
        assert json.load(handle)["fineTuneStrategy"] == "LoRA"
    selectors.materialize(researcher, "private", "Data", tmp_path)
    assert (tmp_path / "train/train.jsonl").read_text().count("\n") == 4
