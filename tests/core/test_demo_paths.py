"""No page, tag or answer of the demo data names a path of the server, for the demo researcher and
for an admin (tests/core/test_chain.py does the same after a finished fine-tune)."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from hub.models import Repository
from images.models import Image
from registry.models import AiApplication
from sgt.models import SgtModel
from tests.leaks import assert_no_server_path

PAGES = ["/", "/hub/", "/hub/new/", "/files/", "/files/public/", "/images/", "/registry/", "/registry/new/",
         "/training/", "/evaluation/", "/evaluation/compare/", "/serving/", "/serving/playground/", "/sgt/",
         "/sgt/shared/", "/chat/", "/experiments/", "/experiments/history/", "/accounts/profile/",
         "/api/modelLabel", "/modelList"]


def read(client, url):
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return body.decode("utf-8", errors="replace")


@pytest.mark.django_db
def test_the_demo_shows_no_server_path_to_the_researcher_or_the_admin():
    call_command("seed_demo", stdout=StringIO())
    users = get_user_model().objects
    for username in ("researcher", "admin"):
        client = Client()
        client.force_login(users.get(username=username))
        urls = list(PAGES)
        for repo in Repository.objects.filter(owner__username__in=["researcher", "crucible"])[:12]:
            urls += [f"/hub/{repo.type}/{repo.full_name}/", f"/api/{repo.type}s/{repo.full_name}"]
            if repo.head and repo.head.entries.filter(path="README.md").exists():
                urls.append(f"/hub/{repo.type}/{repo.full_name}/blob/README.md")
        urls += [f"/registry/{app.uid}/" for app in AiApplication.objects.filter(owner__username="researcher")]
        urls += [f"/images/{image.uid}/" for image in Image.objects.filter(owner__username="researcher")]
        urls += [f"/sgt/models/{model.pk}/" for model in SgtModel.objects.filter(owner__username="researcher")]
        assert_no_server_path({f"{username} {url}": read(client, url) for url in urls})
