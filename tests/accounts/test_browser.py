"""The account pages in a real browser: register, profile, avatar, API keys, logout."""

import io

import pytest
from PIL import Image

from accounts.models import ApiKey, User
from accounts.services import authenticate_api_key

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def png_file(path, color=(30, 144, 255), size=(300, 200)):
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    return path


def test_static_assets_load(page, live_server, tmp_path):
    page.goto(live_server.url + "/")
    page.screenshot(path=str(tmp_path / "home.png"), full_page=True)
    # The stylesheet applied (the nav bar is dark) and both vendored libraries ran.
    background = page.eval_on_selector(".site-nav", "el => getComputedStyle(el).backgroundColor")
    assert background == "rgb(31, 41, 51)"
    assert page.evaluate("typeof htmx !== 'undefined' && htmx.version.startsWith('2.')")
    assert page.evaluate("typeof Chart === 'function' && Chart.version.startsWith('4.')")
    for name in ("Hub", "Files", "Images", "Training", "Evaluation", "Serving", "SGT", "Chat", "Experiments"):
        assert page.locator(".nav-links").get_by_role("link", name=name, exact=True).is_visible()
    assert page.locator("#health").is_visible()
    assert page.js_errors == []


def test_register_profile_avatar_api_key_logout(page, live_server, tmp_path):
    url = live_server.url

    # Registration errors are shown per field.
    page.goto(url + "/accounts/register/")
    page.fill("#id_username", "carol")
    page.fill("#id_password1", "a-long-passphrase-9")
    page.fill("#id_password2", "something-else-9")
    page.click("form button[type=submit]")
    assert "The two passwords differ." in page.locator("#id_password2_errors").inner_text()
    page.screenshot(path=str(tmp_path / "register-errors.png"), full_page=True)

    page.fill("#id_password1", "a-long-passphrase-9")
    page.fill("#id_password2", "a-long-passphrase-9")
    page.click("form button[type=submit]")

    # Registered and logged in: the profile with the default avatar.
    page.wait_for_url(url + "/accounts/profile/")
    assert "Welcome to Crucible, carol." in page.locator(".messages").inner_text()
    assert page.locator("[data-testid=team]").inner_text() == "none"  # teams are given by administrators
    avatar = page.locator("[data-testid=avatar]")
    assert avatar.get_attribute("src").endswith("/static/img/default-avatar.png")
    assert page.evaluate("document.querySelector('[data-testid=avatar]').naturalWidth") == 256
    # The quota chart was drawn by Chart.js.
    assert page.evaluate("Chart.getChart('resource-chart') !== undefined")
    page.screenshot(path=str(tmp_path / "profile-default.png"), full_page=True)

    # Upload an avatar: the page shows the new (square, thumbnailed) image.
    page.set_input_files("#id_avatar", str(png_file(tmp_path / "me.png")))
    page.click("text=Upload avatar")
    page.wait_for_url(url + "/accounts/profile/")
    assert "Avatar updated." in page.locator(".messages").inner_text()
    src = page.locator("[data-testid=avatar]").get_attribute("src")
    assert src.startswith("/media/avatars/") and src.endswith(".png")
    assert page.evaluate("document.querySelector('[data-testid=avatar]').naturalWidth") == 200
    user = User.objects.get(username="carol")
    assert user.avatar.name == src.removeprefix("/media/")

    # Create an API key through htmx: the secret key appears once and works.
    page.fill("#id_description", "notebook")
    page.click("text=Create key")
    secret_box = page.locator("[data-testid=new-secret]")
    secret_box.wait_for()
    secret_id = page.locator("[data-testid=secret-id]").inner_text()
    secret_key = page.locator("[data-testid=secret-key]").inner_text()
    assert authenticate_api_key(secret_id, secret_key) == user
    assert page.locator(f"#key-{secret_id}").get_by_text("notebook").is_visible()
    page.screenshot(path=str(tmp_path / "profile-key.png"), full_page=True)

    # Reloading does not show the secret again.
    page.reload()
    assert page.locator("[data-testid=new-secret]").count() == 0
    assert secret_key not in page.content()

    # Revoke it (htmx, with a confirmation dialog).
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f"#key-{secret_id} button.danger").click()
    page.locator(f"#key-{secret_id}").get_by_text("revoked").wait_for()
    assert not ApiKey.objects.get(secret_id=secret_id).is_active

    # Log out (a POST form in the navigation).
    page.click("[data-testid=logout]")
    page.wait_for_url(url + "/accounts/login/")
    page.goto(url + "/accounts/profile/")
    assert page.url.startswith(url + "/accounts/login/?next=")
    assert page.js_errors == []


def test_login_page(page, live_server, user, password):
    page.goto(live_server.url + "/accounts/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "wrong-password")
    page.click("form button[type=submit]")
    assert page.locator(".errorlist.nonfield").is_visible()

    page.fill("#id_username", user.username)
    page.fill("#id_password", password)
    page.click("form button[type=submit]")
    page.wait_for_url(live_server.url + "/accounts/profile/")
    assert page.locator(".profile-link").inner_text().strip() == user.username
