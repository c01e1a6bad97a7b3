"""manage.py backup / restore: a round trip into an empty database and a new data folder.

Each side is its own process with its own data folder (and database), as on two machines.
"""

import json
import os
import subprocess
import sys
import uuid

import pytest

from tests.worker import ROOT

pytestmark = pytest.mark.timeout(600)

MAKE_OBJECTS = """
import json, django; django.setup()
from django.core.files.base import ContentFile
from django.utils import timezone
from accounts.models import Team
from accounts.services import register_user
from hub import services as hub
from training.models import LlmTask
from training.selectors import task_dir

alice = register_user(username="alice", password="alice-passphrase-1", self_service=False)
alice.team = Team.objects.create(name="Thin Films")  # teams are an administrator's to set
alice.save()
register_user(username="bob", password="bob-passphrase-22", self_service=False)
repo = hub.create_repository(owner=alice, name="tiny-model", description="a model to keep")
upload = ContentFile(b'{"n_layer": 2}', name="config.json")
hub.upload_files(repo=repo, user=alice, uploads=[("config.json", upload)])
now = timezone.now()
task = LlmTask.objects.create(owner=alice, name="lora-run", model_source="hub", model_ref="alice/tiny-model",
                              data_source="hub", data_ref="alice/data", status="succeeded", progress=1.0,
                              started_at=now - timezone.timedelta(minutes=3), finished_at=now, log="done")
task_dir(task).mkdir(parents=True, exist_ok=True)
(task_dir(task) / "adapter_model.safetensors").write_bytes(b"weights" * 100)
print(json.dumps({"repo": repo.pk, "task": task.pk}))
"""

CHECK_OBJECTS = """
import json, django; django.setup()
from django.contrib.auth import get_user_model
from hub.models import Repository
from hub.selectors import entry_at
from hub.storage import open_blob
from training.models import LlmTask
from training.selectors import task_dir

User = get_user_model()
alice = User.objects.get(username="alice")
repo = Repository.objects.get(owner=alice, name="tiny-model")
entry = entry_at(repo.head, "config.json")
with open_blob(entry.blob) as handle:
    config = handle.read().decode()
task = LlmTask.objects.get(name="lora-run")
print(json.dumps({
    "users": sorted(User.objects.values_list("username", flat=True)),
    "alice_password": alice.check_password("alice-passphrase-1"),
    "team": alice.team.name,
    "repo": [repo.pk, repo.name, repo.head.message],
    "config": config,
    "task": [task.pk, task.status, task.progress, task.log],
    "weights": (task_dir(task) / "adapter_model.safetensors").read_bytes().decode()[:14],
}))
"""


def run(data_dir, args, database_url=None):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(DJANGO_SETTINGS_MODULE="config.settings_test", CRUCIBLE_DATA_DIR=str(data_dir),
               CRUCIBLE_ENV_FILE=str(data_dir / "none.env"))
    if database_url:
        env["DATABASE_URL"] = database_url
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def ok(done):
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-3000:])
    return done.stdout


def postgres_available():
    try:
        done = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc", "select 1"],
                              capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def psql(sql):
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-c", sql], check=True, capture_output=True)


def psql_in(database, sql):
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-c", sql], check=True,
                   capture_output=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def databases(request):
    """(source DATABASE_URL, target DATABASE_URL): None for SQLite (a file in each data folder).

    PostgreSQL as docs/deployment.md sets it up: an ordinary role owns the databases, and the
    administrator created pg_trgm in each (so the role does not own the extension).
    """
    if request.param == "sqlite":
        yield None, None
        return
    if not postgres_available():
        pytest.skip("no PostgreSQL at 127.0.0.1 (user postgres)")
    suffix = uuid.uuid4().hex[:8]
    role = f"crucible_backup_{suffix}"
    names = [f"crucible_backup_{side}_{suffix}" for side in ("src", "dst")]
    psql(f"CREATE ROLE {role} LOGIN PASSWORD 'backup-test'")
    for name in names:
        psql(f"CREATE DATABASE {name} OWNER {role} TEMPLATE template0")
        psql_in(name, "CREATE EXTENSION IF NOT EXISTS pg_trgm")
    try:
        yield tuple(f"postgres://{role}:backup-test@127.0.0.1:5432/{name}" for name in names)
    finally:
        for name in names:
            psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        psql(f"DROP ROLE IF EXISTS {role}")


def test_backup_restores_users_a_hub_repository_and_a_finished_task_into_an_empty_database(tmp_path, databases):
    source_db, target_db = databases
    source, target = tmp_path / "lab-a", tmp_path / "lab-b"
    archive = tmp_path / "crucible.tar.gz"
    ok(run(source, ["manage.py", "migrate", "--noinput"], source_db))
    made = json.loads(ok(run(source, ["-c", MAKE_OBJECTS], source_db)).strip().splitlines()[-1])
    (source / "broker").mkdir(exist_ok=True)
    (source / "broker" / "msg.json").write_text("{}")  # transient: not worth a backup
    (source / "serving" / "replicas" / "3").mkdir(parents=True)
    (source / "serving" / "replicas" / "3" / "port.json").write_text("{}")  # a replica's runtime file
    (source / "serving" / "models" / "v1").mkdir(parents=True)
    (source / "serving" / "models" / "v1" / "config.json").write_text("{}")  # a served model's copy

    output = ok(run(source, ["manage.py", "backup", "--output", str(archive)], source_db))
    assert f"backup written to {archive}" in output

    restored = ok(run(target, ["manage.py", "restore", str(archive)], target_db))
    assert "restored the" in restored
    found = json.loads(ok(run(target, ["-c", CHECK_OBJECTS], target_db)).strip().splitlines()[-1])

    assert found["users"] == ["alice", "bob"]
    assert found["alice_password"] is True and found["team"] == "Thin Films"
    assert found["repo"] == [made["repo"], "tiny-model", "Upload config.json"]
    assert found["config"] == '{"n_layer": 2}'
    assert found["task"] == [made["task"], "succeeded", 1.0, "done"]
    assert found["weights"] == "weightsweights"
    assert not (target / "broker" / "msg.json").exists()
    assert not (target / "serving" / "replicas").exists()
    assert (target / "serving" / "models" / "v1" / "config.json").read_text() == "{}"
    assert not any(target.rglob("crucible-test-*"))
    # The restored instance is complete: migrate has nothing left to do.
    assert "No migrations to apply" in ok(run(target, ["manage.py", "migrate", "--noinput"], target_db))

    # A second restore would overwrite a live database: refused unless --force.
    again = run(target, ["manage.py", "restore", str(archive)], target_db)
    assert again.returncode != 0
    assert "the database already has tables" in again.stderr
    ok(run(target, ["manage.py", "restore", "--force", str(archive)], target_db))


def test_restore_refuses_a_file_that_is_not_a_backup(tmp_path):
    bogus = tmp_path / "notes.tar"
    subprocess.run(["tar", "-cf", str(bogus), "-C", str(ROOT), "README.md"], check=True)
    done = run(tmp_path / "lab", ["manage.py", "restore", str(bogus)])
    assert done.returncode != 0
    assert "not a Crucible backup" in done.stderr
