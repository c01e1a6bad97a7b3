"""Teams are managed by administrators: bob cannot join alice's team by naming it (API,
profile page, registration), so he never sees the team's runs, logs or videos."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import Team
from accounts.services import issue_tokens
from tests.experiments.helpers import finished_run
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def lab(user):
    """alice's team, "Demo lab", with one finished run of hers."""
    user.team = Team.objects.create(name="Demo lab")
    user.save()
    return finished_run(user, code="LAB-RUN")


def jwt_client(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_tokens(user)[0]}")
    return client


def assert_cannot_see(client, run):
    assert client.get(f"/download_video?task_id={run.pk}").status_code == 404
    status = client.get(f"/get_status?task_id={run.pk}")
    assert status.status_code == 404 or status.json()["data"] == [], status.content


def test_bob_cannot_join_a_team_through_the_api(lab, other_user):
    bob = jwt_client(other_user)
    response = bob.patch("/api/v1/me/", {"team": "Demo lab"}, format="json")
    assert response.status_code == 403
    assert "administrators" in response.json()["detail"]
    other_user.refresh_from_db()
    assert other_user.team.name != "Demo lab"
    assert bob.get("/api/v1/me/").json()["team"] != "Demo lab"
    assert_cannot_see(bob, lab)


def test_bob_cannot_join_a_team_from_the_profile_page(lab, other_user):
    bob = Client()
    bob.force_login(other_user)
    assert bob.post("/accounts/profile/team/", {"team": "Demo lab"}).status_code == 404
    html = bob.get("/accounts/profile/").content.decode()
    assert 'name="team"' not in html and "managed by the administrators" in html
    other_user.refresh_from_db()
    assert other_user.team.name != "Demo lab"
    assert bob.get(f"/experiments/runs/{lab.pk}/").status_code == 404


def test_registering_with_a_teams_name_does_not_join_it(lab, api_client):
    response = api_client.post(
        "/api/register/submitUserInfo", {"username": "mallory", "password": PASSWORD, "team": "Demo lab"},
        format="multipart",
    )
    assert response.status_code == 200, response.content
    mallory = APIClient()
    mallory.credentials(HTTP_AUTHORIZATION=response["Authorization"])
    assert mallory.get("/api/personalInformation").json()["data"]["team"] == ""
    assert_cannot_see(mallory, lab)

    page = Client()
    page.post("/accounts/register/", {"username": "trudy", "password1": PASSWORD, "password2": PASSWORD,
                                      "team": "Demo lab"})
    assert Team.objects.get(name="Demo lab").members.filter(username="trudy").count() == 0


def test_a_member_an_admin_adds_through_the_admin_sees_the_teams_runs(lab, other_user):
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    site = Client()
    site.force_login(admin)
    page = site.get(f"/admin/accounts/user/{other_user.pk}/change/")
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name != "avatar"}
    data.update(team=Team.objects.get(name="Demo lab").pk, date_joined_0="2026-01-01", date_joined_1="00:00:00",
                last_login_0="", last_login_1="")
    for prefix in ("resource_quota", "storage_quota"):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    response = site.post(f"/admin/accounts/user/{other_user.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    other_user.refresh_from_db()
    assert other_user.team.name == "Demo lab"
    assert jwt_client(other_user).get(f"/download_video?task_id={lab.pk}").status_code == 200


# --- a team's own admins invite; only the invited user can accept ----------------------


def test_a_team_admin_invites_and_only_the_invited_user_joins(lab, user, other_user):
    Team.objects.get(name="Demo lab").admins.add(user)
    alice, bob = jwt_client(user), jwt_client(other_user)
    mallory_user = UserFactory(username="mallory")
    mallory = jwt_client(mallory_user)

    created = alice.post("/api/v1/team-invitations/", {"team": "Demo lab", "username": "bob"}, format="json")
    assert created.status_code == 201, created.content
    invitation = created.json()
    assert (invitation["team"], invitation["username"], invitation["invited_by"]) == ("Demo lab", "bob", "alice")
    # Invited is not a member yet.
    assert bob.get(f"/download_video?task_id={lab.pk}").status_code == 404
    # Nobody else accepts it for him, and nobody but an admin of the team invites.
    assert mallory.post(f"/api/v1/team-invitations/{invitation['id']}/accept/").status_code == 404
    refused = mallory.post("/api/v1/team-invitations/", {"team": "Demo lab", "username": "mallory"}, format="json")
    assert refused.status_code == 404
    assert bob.post("/api/v1/team-invitations/", {"team": "Demo lab", "username": "mallory"},
                    format="json").status_code == 404
    assert [i["id"] for i in bob.get("/api/v1/team-invitations/").json()] == [invitation["id"]]
    assert mallory.get("/api/v1/team-invitations/").json() == []

    accepted = bob.post(f"/api/v1/team-invitations/{invitation['id']}/accept/")
    assert accepted.status_code == 200 and accepted.json()["team"] == "Demo lab"
    assert bob.get(f"/download_video?task_id={lab.pk}").status_code == 200
    assert bob.get("/api/v1/team-invitations/").json() == []
    again = alice.post("/api/v1/team-invitations/", {"team": "Demo lab", "username": "bob"}, format="json")
    assert again.status_code == 409


def test_invitations_can_be_declined_or_withdrawn(lab, user, other_user):
    Team.objects.get(name="Demo lab").admins.add(user)
    alice, bob = jwt_client(user), jwt_client(other_user)
    first = alice.post("/api/v1/team-invitations/", {"team": "Demo lab", "username": "bob"}, format="json").json()
    assert bob.delete(f"/api/v1/team-invitations/{first['id']}/").status_code == 204  # declined
    second = alice.post("/api/v1/team-invitations/", {"team": "Demo lab", "username": "bob"}, format="json").json()
    assert jwt_client(UserFactory(username="eve")).delete(
        f"/api/v1/team-invitations/{second['id']}/"
    ).status_code == 404
    assert alice.delete(f"/api/v1/team-invitations/{second['id']}/").status_code == 204  # withdrawn
    assert bob.post(f"/api/v1/team-invitations/{second['id']}/accept/").status_code == 404
    other_user.refresh_from_db()
    assert other_user.team.name != "Demo lab"


def test_invitation_bad_input_is_4xx(user):
    alice = jwt_client(user)
    assert alice.post("/api/v1/team-invitations/", {"team": 5, "username": "bob"}, format="json").status_code == 400
    assert alice.post("/api/v1/team-invitations/", {"team": "Demo lab"}, format="json").status_code == 400
    assert alice.post("/api/v1/team-invitations/", {"team": "Nope", "username": "bob"}, format="json").status_code == 404
    assert alice.post("/api/v1/team-invitations/999/accept/").status_code == 404
    assert APIClient().get("/api/v1/team-invitations/").status_code == 401


def test_the_invited_user_joins_from_the_profile_page(lab, user, other_user):
    Team.objects.get(name="Demo lab").admins.add(user)
    invitation = jwt_client(user).post(
        "/api/v1/team-invitations/", {"team": "Demo lab", "username": "bob"}, format="json"
    ).json()
    mallory = Client()
    mallory.force_login(UserFactory(username="mallory"))
    assert mallory.post(f"/accounts/profile/invitations/{invitation['id']}/accept/").status_code == 404
    bob = Client()
    bob.force_login(other_user)
    html = bob.get("/accounts/profile/").content.decode()
    assert 'data-testid="invitation"' in html and "alice invites you into <strong>Demo lab</strong>" in html
    response = bob.post(f"/accounts/profile/invitations/{invitation['id']}/accept/")
    assert response.status_code == 302
    other_user.refresh_from_db()
    assert other_user.team.name == "Demo lab"
    assert bob.get(f"/experiments/runs/{lab.pk}/").status_code == 200
