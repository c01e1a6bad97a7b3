"""config/settings.py read from the environment, each case in a fresh process."""

import json
import os
import re
import subprocess
import sys

from tests.worker import ROOT

REAL_KEY = "k3y-" + "x" * 60
JWT_KEY = "jwt-" + "y" * 60
SETTINGS_ENV = ["DJANGO_ENV", "SECRET_KEY", "DEBUG", "DATABASE_URL", "CELERY_BROKER_URL", "ALLOWED_HOSTS",
                "JWT_SIGNING_KEY", "CODE_SANDBOX"]
PRINT_SETTINGS = """
import json
from config import settings as s
db = s.DATABASES["default"]
print(json.dumps({
    "debug": s.DEBUG,
    "allowed_hosts": s.ALLOWED_HOSTS,
    "engine": db["ENGINE"], "name": str(db["NAME"]), "host": db.get("HOST", ""), "port": str(db.get("PORT", "")),
    "user": db.get("USER", ""),
    "broker": s.CELERY_BROKER_URL, "transport": s.CELERY_BROKER_TRANSPORT_OPTIONS,
    "data_dir": str(s.DATA_DIR), "secure_cookies": getattr(s, "SESSION_COOKIE_SECURE", False),
}))
"""


def load_settings(tmp_path, **env):
    """Import config.settings in a new process with only `env` set; returns the CompletedProcess."""
    clean = {k: v for k, v in os.environ.items() if k not in SETTINGS_ENV and k != "DJANGO_SETTINGS_MODULE"}
    clean.update(CRUCIBLE_DATA_DIR=str(tmp_path), **env)
    return subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


def loaded(done):
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_production_without_secret_key_refuses_to_start(tmp_path):
    done = load_settings(tmp_path, DJANGO_ENV="production")
    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr
    assert "SECRET_KEY" in done.stderr


def test_production_with_a_short_secret_key_refuses_to_start(tmp_path):
    done = load_settings(tmp_path, DJANGO_ENV="production", SECRET_KEY="short")
    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr


def test_production_with_debug_on_refuses_to_start(tmp_path):
    done = load_settings(tmp_path, DJANGO_ENV="production", SECRET_KEY=REAL_KEY, DEBUG="1")
    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr
    assert "DEBUG" in done.stderr


def test_production_needs_a_jwt_key_of_its_own(tmp_path):
    for key in ({}, {"JWT_SIGNING_KEY": REAL_KEY}, {"JWT_SIGNING_KEY": "short"}):
        done = load_settings(tmp_path, DJANGO_ENV="production", SECRET_KEY=REAL_KEY, **key)
        assert done.returncode != 0
        assert "JWT_SIGNING_KEY" in done.stderr


def test_production_refuses_to_start_a_worker_without_the_sandbox(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_ENV and k != "DJANGO_SETTINGS_MODULE"}
    env.update(CRUCIBLE_DATA_DIR=str(tmp_path), DJANGO_ENV="production", SECRET_KEY=REAL_KEY, JWT_SIGNING_KEY=JWT_KEY,
               ALLOWED_HOSTS="lab.example", CODE_SANDBOX="none", CELERY_BROKER_URL="memory://")
    done = subprocess.run([sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "-Q", "nothing"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "CODE_SANDBOX=none is for development only" in done.stdout + done.stderr


def test_production_with_a_real_key_starts_with_debug_off(tmp_path):
    values = loaded(load_settings(tmp_path, DJANGO_ENV="production", SECRET_KEY=REAL_KEY, JWT_SIGNING_KEY=JWT_KEY,
                                  ALLOWED_HOSTS="lab.example"))
    assert values["debug"] is False
    assert values["allowed_hosts"] == ["lab.example"]
    assert values["secure_cookies"] is True


def test_defaults_need_no_service(tmp_path):
    values = loaded(load_settings(tmp_path))
    assert values["debug"] is True
    assert values["engine"] == "django.db.backends.sqlite3"
    assert values["name"] == str(tmp_path.resolve() / "crucible.sqlite3")
    assert values["broker"] == "filesystem://"
    assert values["transport"]["data_folder_in"] == str(tmp_path.resolve() / "broker")
    assert (tmp_path / "broker").is_dir()


def test_database_url_and_broker_url_are_honoured(tmp_path):
    values = loaded(
        load_settings(
            tmp_path,
            DATABASE_URL="postgres://lab:secret@db.example:6543/crucible_prod",
            CELERY_BROKER_URL="redis://queue.example:6380/2",
        )
    )
    assert values["engine"] == "django.db.backends.postgresql"
    assert (values["name"], values["host"], values["port"], values["user"]) == (
        "crucible_prod", "db.example", "6543", "lab",
    )
    assert values["broker"] == "redis://queue.example:6380/2"
    assert values["transport"] == {"visibility_timeout": 3600}


def test_readme_documents_every_setting():
    source = (ROOT / "config" / "settings.py").read_text()
    read = set(re.findall(r"""env(?:\.[a-z]+)?\(\s*["']([A-Z][A-Z0-9_]+)["']""", source))
    table = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", table, flags=re.MULTILINE))
    assert len(read) > 20  # the pattern still finds the settings
    assert not read - documented, f"add these to the README's settings table: {sorted(read - documented)}"
