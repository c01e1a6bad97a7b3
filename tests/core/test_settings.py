"""config/settings.py read from the environment, each case in a fresh process."""

import json
import os
import re
import subprocess
import sys

from tests.worker import ROOT

REAL_KEY = "k3y-" + "x" * 60
JWT_KEY = "jwt-" + "y" * 60
SETTINGS_ENV = [
    "DJANGO_ENV", "SECRET_KEY", "DEBUG", "DATABASE_URL", "CELERY_BROKER_URL", "ALLOWED_HOSTS", "CRUCIBLE_ENV_FILE",
    "JWT_SIGNING_KEY", "IMAGES_STORE_DIR", "CODE_SANDBOX",
    "DJANGO_ALLOW_ASYNC_UNSAFE",  # set by the browser tests' live server; never in a deployment
]
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
    "secret_key": s.SECRET_KEY, "jwt_key": s.SIMPLE_JWT["SIGNING_KEY"],
}))
"""


def load_settings(tmp_path, env_file=None, **env):
    """Import config.settings in a new process with only `env` set (and `env_file` as its .env)."""
    clean = {k: v for k, v in os.environ.items() if k not in SETTINGS_ENV and k != "DJANGO_SETTINGS_MODULE"}
    clean.update(CRUCIBLE_DATA_DIR=str(tmp_path), CRUCIBLE_ENV_FILE=str(env_file or tmp_path / "no.env"), **env)
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


def write_env(tmp_path, text):
    env_file = tmp_path / "lab.env"
    env_file.write_text(text)
    return env_file


def test_an_env_file_with_an_inline_comment_in_a_path_is_refused_with_the_line(tmp_path):
    shared = tmp_path / "shared"
    env_file = write_env(tmp_path, f"DJANGO_ENV=production\nCRUCIBLE_DATA_DIR={shared}   # the shared folder\n")
    clean = {k: v for k, v in os.environ.items() if k not in SETTINGS_ENV + ["CRUCIBLE_DATA_DIR", "DJANGO_SETTINGS_MODULE"]}
    clean["CRUCIBLE_ENV_FILE"] = str(env_file)

    done = subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )

    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr
    assert f"{env_file}, line 2: CRUCIBLE_DATA_DIR has an inline comment" in done.stderr
    assert not list(tmp_path.glob("shared*"))  # no folder named after the comment was made


def test_a_path_with_a_comment_from_the_process_environment_is_refused(tmp_path):
    done = load_settings(tmp_path, IMAGES_STORE_DIR=f"{tmp_path}/images  # on the big disk")
    assert done.returncode != 0
    assert "IMAGES_STORE_DIR=" in done.stderr
    assert "inline comment" in done.stderr


def test_quoted_values_and_comment_lines_in_env_file_are_fine(tmp_path):
    data = tmp_path / "data"
    key = "quoted #" + "k" * 40
    env_file = write_env(tmp_path, f"# the shared folder\nCRUCIBLE_DATA_DIR={data}\nSECRET_KEY='{key}'\nDEBUG=0\n")
    clean = {k: v for k, v in os.environ.items() if k not in SETTINGS_ENV + ["CRUCIBLE_DATA_DIR", "DJANGO_SETTINGS_MODULE"]}
    clean["CRUCIBLE_ENV_FILE"] = str(env_file)
    done = subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )
    values = loaded(done)
    assert values["data_dir"] == str(data.resolve())
    assert values["secret_key"] == key
    assert values["debug"] is False


def test_a_secret_key_starting_with_a_dollar_is_read_as_written(tmp_path):
    # Django's get_random_secret_key() draws from "...!@#$%^&*(-_=+)": a key can start with "$",
    # which django-environ would otherwise resolve as a reference to another variable.
    key, jwt_key = "$k9#x" + "a" * 50, "$JWT_" + "b" * 50
    env_file = write_env(
        tmp_path, f"DJANGO_ENV=production\nSECRET_KEY={key}\nJWT_SIGNING_KEY={jwt_key}\nALLOWED_HOSTS=lab.example\n"
    )
    values = loaded(load_settings(tmp_path, env_file=env_file))
    assert values["secret_key"] == key
    assert values["jwt_key"] == jwt_key
    assert values["debug"] is False


def test_env_file_is_ignored_by_git():
    done = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT)
    assert done.returncode == 0


def test_the_deploy_env_example_loads_without_inline_comments(tmp_path):
    example = ROOT / "deploy" / "env.example"
    assert not [line for line in example.read_text().splitlines() if not line.startswith("#") and " #" in line]
    # The example's data folder (/srv/crucible) and empty secret are the machine's to fill in.
    values = loaded(load_settings(tmp_path, env_file=example, SECRET_KEY=REAL_KEY, JWT_SIGNING_KEY="jwt-" + REAL_KEY))
    assert values["debug"] is False
    assert values["engine"] == "django.db.backends.postgresql"
    assert values["broker"].startswith("redis://")
    assert values["allowed_hosts"] == ["crucible.lab.example", "127.0.0.1"]


def test_the_systemd_units_escape_celerys_host_name():
    worker = (ROOT / "deploy" / "systemd" / "crucible-worker@.service").read_text()
    exec_start = worker.split("ExecStart=", 1)[1].split("\n\n", 1)[0]
    assert "-n %i@%%h" in exec_start and "--loglevel INFO" in exec_start
    assert "User=crucible" in worker
    web = (ROOT / "deploy" / "systemd" / "crucible-web.service").read_text()
    assert "--timeout 120 --access-logfile - --no-control-socket" in web and "User=crucible" in web


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
    values["JWT_SIGNING_KEY"] = "Jw7" + "".join(chr(ord("a") + (i * 11) % 26) for i in range(60))
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
    assert any(re.match(pattern, "metrics") for pattern in values["exempt"])
    assert not any(re.match(pattern, "metricsx") or re.match(pattern, "v1/models") for pattern in values["exempt"])
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


def test_a_prometheus_on_the_web_machine_scrapes_gunicorn_over_plain_http(db, settings):
    """What deploy/env.example allows: 127.0.0.1:8000/metrics from the machine itself, not
    redirected to HTTPS; a proxied request (X-Forwarded-For) still needs the token."""
    from django.test import Client

    settings.SECURE_SSL_REDIRECT = True
    settings.ALLOWED_HOSTS = ["crucible.lab.example", "127.0.0.1"]
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    client = Client()
    scraped = client.get("/metrics", HTTP_HOST="127.0.0.1:8000", REMOTE_ADDR="127.0.0.1")
    assert scraped.status_code == 200 and b"crucible_" in scraped.content
    proxied = client.get("/metrics", HTTP_HOST="crucible.lab.example", REMOTE_ADDR="127.0.0.1",
                         HTTP_X_FORWARDED_FOR="10.77.0.2", HTTP_X_FORWARDED_PROTO="https")
    assert proxied.status_code == 403
    assert client.get("/accounts/login/", HTTP_HOST="127.0.0.1:8000").status_code == 301
