"""The site's own 404, 403 and 500 pages: never Django's technical 404 (which lists every URL
pattern), whatever DEBUG says."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("debug", [True, False])
def test_an_unknown_page_is_the_sites_404(settings, debug):
    settings.DEBUG = debug
    response = Client().get("/no/such/page/")
    html = response.content.decode()
    assert response.status_code == 404
    assert 'data-testid="error-page"' in html and "/no/such/page/" in html
    assert "URLconf" not in html and "^admin/" not in html  # no pattern list
    if not debug:  # django-csp leaves DEBUG's 404 and 500 answers without the header
        assert "Content-Security-Policy" in response.headers


def test_an_api_404_stays_json(settings, auth_client):
    settings.DEBUG = True
    response = auth_client.get("/api/v1/hub/repos/model/nobody/nothing")
    assert response.status_code == 404 and response["Content-Type"].startswith("application/json")


def test_the_403_and_500_templates_render(client, user):
    from django.template.loader import render_to_string

    assert "Something went wrong" in render_to_string("500.html")
    assert "Not allowed" in render_to_string("403.html", {"exception": "only the owner can upload"})
