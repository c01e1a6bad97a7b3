"""OpenAPI at /api/schema/ and an offline Swagger UI at /api/docs/ (drf-spectacular + sidecar)."""

import os
import re
import subprocess
import sys
from html.parser import HTMLParser

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from drf_spectacular.validation import validate_schema

from tests.worker import ROOT

# The foundation's account facades: each must be documented with its request and response shapes.
ACCOUNT_FACADES = [
    ("post", "/api/login"),
    ("get", "/api/personalInformation"),
    ("post", "/api/register/verifyUsername"),
    ("post", "/api/register/submitUserInfo"),
    ("post", "/myapp/register/"),
    ("post", "/myapp/login/"),
    ("post", "/sgt/private/update_auth_token"),
    ("post", "/sgt/public/check_auth_token"),
    ("post", "/api/system/config/getRemainResource"),
    ("post", "/system/config/getRemainResource"),
    ("post", "/resource/configRemake/getQuotaRemainResource"),
]


class AssetLinks(HTMLParser):
    """Collects every src= and href= of a page."""

    def __init__(self):
        super().__init__()
        self.links = []

    def handle_starttag(self, tag, attrs):
        self.links += [value for name, value in attrs if name in ("src", "href") and value]


@pytest.fixture(scope="module")
def spectacular_command(tmp_path_factory):
    """`manage.py spectacular --validate` run once, as an operator would."""
    out = tmp_path_factory.mktemp("schema") / "schema.yaml"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test", "CRUCIBLE_DATA_DIR": str(out.parent)}
    done = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--file", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    return done, out


@pytest.mark.django_db
def test_schema_endpoint_serves_a_valid_openapi_document(client):
    response = client.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    schema = response.json()
    validate_schema(schema)  # raises on an invalid OpenAPI 3 document
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "Crucible API"
    for method, path in ACCOUNT_FACADES:
        operation = schema["paths"].get(path, {}).get(method)
        assert operation, f"{method.upper()} {path} missing from the schema"
        if method == "post":
            assert operation.get("requestBody", {}).get("content"), f"{path} has no documented request body"
        assert operation["responses"]["200"].get("content"), f"{path} has no documented response body"


def test_spectacular_validate_exits_0(spectacular_command):
    done, out = spectacular_command
    assert done.returncode == 0, done.stderr[-3000:]
    assert out.read_text().startswith("openapi: 3.")


def test_every_view_is_documented(spectacular_command):
    # drf-spectacular reports an "Error" for each view whose request or response shapes it
    # cannot tell (for instance an APIView without a serializer or @extend_schema).
    done, _ = spectacular_command
    errors = sorted({line.split(". ")[0] for line in done.stderr.splitlines() if re.search(r": Error \[", line)})
    assert not errors, "views without a documented shape:\n" + "\n".join(errors)


@pytest.mark.django_db
def test_swagger_ui_works_offline_from_local_static_files():
    # Served the production way: collectstatic into STATIC_ROOT, then WhiteNoise. A new
    # Client builds a new middleware chain, so WhiteNoise sees the collected files.
    call_command("collectstatic", interactive=False, verbosity=0)
    client = Client()

    response = client.get("/api/docs/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    parser = AssetLinks()
    parser.feed(page)
    assert any(link.endswith("swagger-ui-bundle.js") for link in parser.links)
    for link in parser.links:
        assert link.startswith(settings.STATIC_URL), f"/api/docs/ loads {link} from outside the site"
    assert "cdn" not in page.lower()
    assert "/api/schema/" in page
    for link in parser.links:
        asset = client.get(link)
        assert asset.status_code == 200, link
        assert len(asset.getvalue()) > 100, link
