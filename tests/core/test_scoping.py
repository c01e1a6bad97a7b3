"""core.scoping: one rule of who sees which rows, used by every app's selectors."""

import pytest
from django.contrib.auth.models import AnonymousUser

from accounts.models import Team
from experiments.models import Experiment, Furnace
from hub.models import Repository
from images.models import Image
from images.services import create_image
from sgt.models import SgtModel
from tests.hub.factories import make_repo

pytestmark = pytest.mark.django_db


def names(qs, field="name"):
    return sorted(qs.values_list(field, flat=True))


def test_public_rows_own_rows_and_nothing_else(user, other_user, django_user_model):
    make_repo(user, "open")
    make_repo(user, "closed", private=True)
    make_repo(other_user, "bobs-closed", private=True)
    assert names(Repository.objects.visible_to(AnonymousUser())) == ["open"]
    assert names(Repository.objects.visible_to(None)) == ["open"]
    assert names(Repository.objects.visible_to(user)) == ["closed", "open"]
    assert names(Repository.objects.visible_to(other_user)) == ["bobs-closed", "open"]
    admin = django_user_model.objects.create_user(username="root", password="x" * 12, is_superuser=True)
    assert names(Repository.objects.visible_to(admin)) == ["bobs-closed", "closed", "open"]
    assert names(Repository.objects.owned_by(user)) == ["closed", "open"]
    assert names(Repository.objects.owned_by(AnonymousUser())) == []


def test_private_kinds_show_nothing_to_others_or_to_anonymous(user, other_user):
    create_image(owner=user, name="lab/one")
    assert names(Image.objects.visible_to(user)) == ["lab/one"]
    assert names(Image.objects.visible_to(other_user)) == [] and names(Image.objects.visible_to(None)) == []
    SgtModel.objects.create(owner=user, user_unique_id="alice", name="shared", app_name="lab",
                            model_type="linear_regression", in_size=1, out_size=1, is_public=True)
    SgtModel.objects.create(owner=user, user_unique_id="alice", name="mine", app_name="lab",
                            model_type="linear_regression", in_size=1, out_size=1)
    assert names(SgtModel.objects.visible_to(other_user)) == ["shared"]


def test_lab_records_are_shared_with_the_team_and_ownerless_ones_with_everyone(user, other_user, django_user_model):
    furnace = Furnace.objects.create(name="scoping-furnace")
    carol = django_user_model.objects.create_user(username="carol", password="x" * 12)
    team = Team.objects.create(name="cvd")
    for member in (user, carol):
        member.team = team
        member.save(update_fields=["team"])
    for owner, code in ((user, "a"), (other_user, "b"), (None, "lab")):
        Experiment.objects.create(experiment_id=code, owner=owner, furnace=furnace, substrate="Si", temperature_a={},
                                  temperature_b={}, ar_flow={}, h2_flow={}, duration_s=60)
    assert names(Experiment.objects.visible_to(carol), "experiment_id") == ["a", "lab"]
    assert names(Experiment.objects.visible_to(other_user), "experiment_id") == ["b", "lab"]
    assert names(Experiment.objects.visible_to(None), "experiment_id") == []
