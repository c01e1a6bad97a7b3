"""One tag vocabulary: a tag's Hugging Face id and its display name are one tag (hub.vocabulary)."""

import importlib

import pytest
from django.apps import apps

from hub import selectors, services
from hub.models import Repository, Tag
from hub.vocabulary import canonical
from tests.hub.factories import make_repo

pytestmark = pytest.mark.django_db

merge_migration = importlib.import_module("hub.migrations.0005_tag_vocabulary")


def test_either_spelling_names_the_same_tag():
    assert canonical("task", "Text Generation") == ("text-generation", "Text Generation")
    assert canonical("task", "text_generation") == ("text-generation", "Text Generation")
    assert canonical("language", "en") == ("en", "English")
    assert canonical("language", "english") == ("en", "English")
    assert canonical("library", "sentence-transformers") == ("sentence-transformers", "Sentence Transformers")
    assert canonical("other", "Has a Space") == ("has-a-space", "Has a Space")
    assert canonical("dataset", "mozilla-foundation/common_voice_11_0")[0] == "mozilla-foundation/common_voice_11_0"


def test_a_form_tag_and_a_card_tag_meet_in_one_facet(api_client, user, other_user):
    make_repo(user, name="from-form", tags={"task": ["Text Generation"], "language": ["English"]})
    carded = make_repo(other_user, name="from-card")
    services.apply_card(carded, "---\npipeline_tag: text-generation\nlanguage: [en]\n---\n# card\n")

    assert Tag.objects.filter(category="task").count() == 1
    assert Tag.objects.filter(category="language").count() == 1
    for spelling in ("Text Generation", "text-generation"):
        listed = api_client.get("/modelList", {"task": spelling}).json()["data"]
        assert listed["numTotalItems"] == 2, spelling
    assert api_client.get("/modelList", {"language": "en"}).json()["data"]["numTotalItems"] == 2
    labels = api_client.get("/api/modelLabel").json()["data"]
    assert labels["task"] == ["Text Generation"] and labels["language"] == ["English"]
    facets = selectors.facet_counts(None, filters={"task": ["text-generation"]})
    assert facets["task"] == [("Text Generation", 2, True)]
    # The Hugging Face API answers the Hub's ids.
    info = api_client.get("/api/models/bob/from-card").json()
    assert info["pipeline_tag"] == "text-generation" and "en" in info["tags"]


def test_the_migration_merges_existing_spellings_and_keeps_every_repository(user):
    first = make_repo(user, name="one")
    second = make_repo(user, name="two")
    old_display = Tag.objects.create(category="task", slug="legacy-1", name="Text Generation")
    old_id = Tag.objects.create(category="task", slug="legacy-2", name="text-generation")
    english = Tag.objects.create(category="language", slug="legacy-3", name="English")
    en = Tag.objects.create(category="language", slug="legacy-4", name="en")
    first.tags.set([old_display, english])
    second.tags.set([old_id, en, english])

    merge_migration.merge_spellings(apps, None)

    task = Tag.objects.get(category="task")
    language = Tag.objects.get(category="language")
    assert (task.pk, task.slug, task.name) == (old_display.pk, "text-generation", "Text Generation")
    assert (language.slug, language.name) == ("en", "English")
    for repo in (first, second):
        repo = Repository.objects.get(pk=repo.pk)
        assert set(repo.tags.all()) == {task, language}


def test_a_private_repositorys_tags_stay_out_of_everyone_elses_vocabulary(api_client, auth_client, user, other_user):
    make_repo(other_user, "secret", private=True, tags={"other": ["project-nightingale"], "task": ["Robotics"]})
    make_repo(user, "open", tags={"task": ["Robotics"]})
    services.tag_objects({"library": ["PEFT"]})  # the lab's vocabulary: in no repository yet
    for client in (api_client, auth_client):
        labels = client.get("/api/modelLabel").json()["data"]
        assert "project-nightingale" not in labels["other"]
        assert labels["task"] == ["Robotics"] and labels["library"] == ["PEFT"]
    from rest_framework.test import APIClient

    from accounts.services import issue_tokens

    bob = APIClient()
    bob.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_tokens(other_user)[0]}")
    assert "project-nightingale" in bob.get("/api/modelLabel").json()["data"]["other"]
