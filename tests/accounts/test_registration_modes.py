"""REGISTRATION = open | approval | closed, on every registration path (hub, chat, the page),
the approval-pending login message, and the password change page."""

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings

User = get_user_model()
STRONG = "a-long-passphrase-9"


def hub_register(api_client, username="carol"):
    return api_client.post("/api/register/submitUserInfo", {"username": username, "password": STRONG}, format="multipart")


def chat_register(api_client, username="carol"):
    return api_client.post("/myapp/register/", {"username": username, "password": STRONG})


def page_register(client, username="carol"):
    return client.post(
        "/accounts/register/", {"username": username, "password1": STRONG, "password2": STRONG, "team": ""}
    )


# --- closed -------------------------------------------------------------------------


@pytest.mark.django_db
@override_settings(REGISTRATION="closed")
def test_closed_registration_is_a_403_in_the_hub_envelope(api_client):
    for response in (
        hub_register(api_client),
        api_client.post("/api/register/verifyUsername", {"username": "carol"}, format="json"),
    ):
        assert response.status_code == 403, response.content
        body = response.json()
        assert body == {"code": 403, "msg": "registration is closed: ask an administrator for an account", "data": ""}
        assert "Authorization" not in response
    assert not User.objects.filter(username="carol").exists()


@pytest.mark.django_db
@override_settings(REGISTRATION="closed")
def test_closed_registration_is_a_403_in_the_chat_envelope(api_client):
    response = chat_register(api_client)
    assert response.status_code == 403, response.content
    assert response.json() == {"code": 403, "msg": "registration is closed: ask an administrator for an account"}
    assert not User.objects.filter(username="carol").exists()


@pytest.mark.django_db
@override_settings(REGISTRATION="closed")
def test_closed_registration_is_a_403_page_without_the_form(client):
    page = client.get("/accounts/register/")
    assert page.status_code == 403
    assert "Registration is closed" in page.content.decode()
    assert 'name="password1"' not in page.content.decode()

    assert page_register(client).status_code == 403
    assert not User.objects.filter(username="carol").exists()
    assert "No account yet?" not in client.get("/accounts/login/").content.decode()


# --- approval -----------------------------------------------------------------------


@pytest.mark.django_db
@override_settings(REGISTRATION="approval")
def test_approval_registration_creates_an_inactive_account_without_a_token(api_client):
    response = hub_register(api_client)
    assert response.status_code == 200, response.content
    assert response.json() == {
        "code": 1, "msg": "registration received: an administrator must approve the account", "data": "",
    }
    assert "Authorization" not in response
    assert User.objects.get(username="carol").is_active is False

    response = chat_register(api_client, username="dave")
    assert response.status_code == 200
    assert response.json()["msg"] == "registration received: an administrator must approve the account"
    assert User.objects.get(username="dave").is_active is False


@pytest.mark.django_db
@override_settings(REGISTRATION="approval")
def test_a_pending_account_cannot_log_in_until_an_admin_approves_it(api_client):
    hub_register(api_client)

    login = api_client.post("/api/login", {"username": "carol", "password": STRONG}, format="json")
    assert login.status_code == 401
    assert "waiting for an administrator's approval" in login.json()["msg"]
    # The wrong password says nothing about the account's state.
    wrong = api_client.post("/api/login", {"username": "carol", "password": "not-the-password"}, format="json")
    assert wrong.status_code == 401 and wrong.json()["msg"] == "wrong username or password"
    chat = api_client.post("/myapp/login/", {"username": "carol", "password": STRONG})
    assert chat.status_code == 401 and "approval" in chat.json()["msg"]

    User.objects.filter(username="carol").update(is_active=True)  # what the admin's "active" box does

    login = api_client.post("/api/login", {"username": "carol", "password": STRONG}, format="json")
    assert login.status_code == 200 and login["Authorization"]


@pytest.mark.django_db
@override_settings(REGISTRATION="approval")
def test_the_pages_say_an_account_waits_for_approval(client):
    register_page = client.get("/accounts/register/")
    assert "once an administrator approves them" in register_page.content.decode()

    response = page_register(client)
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert "_auth_user_id" not in client.session

    login = client.post("/accounts/login/", {"username": "carol", "password": STRONG})
    assert login.status_code == 200
    assert "waiting for an administrator&#x27;s approval" in login.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
@override_settings(REGISTRATION="approval")
def test_an_admin_approves_pending_accounts_from_the_user_list(client, api_client):
    from tests.factories import UserFactory

    hub_register(api_client, username="carol")
    hub_register(api_client, username="dave")
    admin = UserFactory(username="root", is_staff=True, is_superuser=True, role="admin")
    client.force_login(admin)
    pending = client.get("/admin/accounts/user/?is_active__exact=0")
    assert "carol" in pending.content.decode() and "dave" in pending.content.decode()

    carol = User.objects.get(username="carol")
    response = client.post("/admin/accounts/user/", {"action": "approve", "_selected_action": [carol.pk]})

    assert response.status_code == 302
    assert User.objects.get(username="carol").is_active is True
    assert User.objects.get(username="dave").is_active is False
    login = api_client.post("/api/login", {"username": "carol", "password": STRONG}, format="json")
    assert login.status_code == 200 and login["Authorization"]


# --- open (the development default) -----------------------------------------------------


@pytest.mark.django_db
def test_open_registration_logs_in_at_once(api_client, settings):
    assert settings.REGISTRATION == "open"
    response = hub_register(api_client)
    assert response.status_code == 200 and response["Authorization"]
    assert User.objects.get(username="carol").is_active is True


# --- password change ----------------------------------------------------------------


@pytest.mark.django_db
def test_a_user_changes_their_own_password_from_the_profile(client, user, password):
    client.force_login(user)
    profile = client.get("/accounts/profile/")
    assert 'href="/accounts/password/"' in profile.content.decode()
    page = client.get("/accounts/password/")
    assert page.status_code == 200
    assert 'name="old_password"' in page.content.decode()

    wrong = client.post(
        "/accounts/password/", {"old_password": "nope", "new_password1": STRONG, "new_password2": STRONG}
    )
    assert wrong.status_code == 200 and "old_password" in wrong.context["form"].errors

    done = client.post(
        "/accounts/password/", {"old_password": password, "new_password1": STRONG, "new_password2": STRONG}
    )
    assert done.status_code == 302 and done["Location"] == "/accounts/profile/"
    user.refresh_from_db()
    assert user.check_password(STRONG)
    after = client.get("/accounts/profile/")
    assert after.status_code == 200  # still logged in (the session hash was updated)
    assert "Your password was changed." in after.content.decode()


@pytest.mark.django_db
def test_the_password_page_needs_a_login(client):
    response = client.get("/accounts/password/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_navigation_offers_register_only_while_registration_is_not_closed(client):
    register = 'href="/accounts/register/"'
    assert register in client.get("/accounts/login/").content.decode()
    with override_settings(REGISTRATION="closed"):
        assert register not in client.get("/accounts/login/").content.decode()
