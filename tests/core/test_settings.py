"""config/settings.py read from the environment, each case in a fresh process."""

import json
import os
import re
import subprocess
import sys

from tests.worker import ROOT

REAL_KEY = "k3y-" + "x" * 60
SETTINGS_ENV = ["DJANGO_ENV", "SECRET_KEY", "DEBUG", "DATABASE_URL", "CELERY_BROKER_URL", "ALLOWED_HOSTS"]
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


def test_production_with_a_real_key_starts_with_debug_off(tmp_path):
    values = loaded(load_settings(tmp_path, DJANGO_ENV="production", SECRET_KEY=REAL_KEY, ALLOWED_HOSTS="lab.example"))
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


def readme_production_env(tmp_path):
    """The environment of the README's lab deployment section, placeholders filled in."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```sh\n(\s*DJANGO_ENV=production\n.*?)```", readme, flags=re.DOTALL).group(1)
    values = {}
    for line in block.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, value = line.partition("=")
            values[name] = value
    values["SECRET_KEY"] = "Vq3" + "".join(chr(ord("a") + (i * 7) % 26) for i in range(60))
    values["CRUCIBLE_DATA_DIR"] = str(tmp_path)
    return {name: re.sub(r"<[^>]*>", "placeholder", value) for name, value in values.items()}


def test_check_deploy_is_clean_with_the_readme_production_settings(tmp_path):
    env = readme_production_env(tmp_path)
    assert env["DJANGO_ENV"] == "production" and env["SECURE_PROXY_SSL_HEADER"] == "HTTP_X_FORWARDED_PROTO"
    clean = {k: v for k, v in os.environ.items() if k not in SETTINGS_ENV and k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=120,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "WARNINGS" not in output and "?: (security." not in output
    assert "no issues" in output


def test_production_redirects_to_https_but_not_the_health_probe(tmp_path):
    env = readme_production_env(tmp_path)
    script = """
import json
from config import settings as s
print(json.dumps({"proxy": s.SECURE_PROXY_SSL_HEADER, "redirect": s.SECURE_SSL_REDIRECT, "exempt": s.SECURE_REDIRECT_EXEMPT,
                  "hsts": [s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD]}))
"""
    clean = {k: v for k, v in os.environ.items() if k not in SETTINGS_ENV and k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env={**clean, **env}, capture_output=True,
                          text=True, timeout=60)
    values = loaded(done)
    assert values["proxy"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["redirect"] is True and values["hsts"] == [31536000, True, True]
    assert any(re.match(pattern, "healthz") for pattern in values["exempt"])
    development = loaded(subprocess.run([sys.executable, "-c", script], cwd=ROOT, env={**clean, "CRUCIBLE_DATA_DIR": str(tmp_path)},
                                        capture_output=True, text=True, timeout=60))
    assert development["proxy"] is None and development["redirect"] is False and development["hsts"][0] == 0


def test_ssl_redirect_spares_the_health_probe_and_trusts_the_proxy_header(db, settings):
    from django.test import Client

    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    client = Client()  # a new handler: the middleware reads the settings above
    login = client.get("/accounts/login/")
    assert login.status_code == 301 and login["Location"].startswith("https://")
    assert client.get("/healthz").status_code in (200, 503)
    assert client.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https").status_code == 200
