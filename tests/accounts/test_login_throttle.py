"""One login throttle for every way in, as an attacker tries it: a rotating X-Forwarded-For
does not buy fresh attempts on any login or registration path, and ten failures lock an
account whatever the address."""

import itertools
import time

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.throttling import client_address
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

RATE = 5  # tests run the "auth" rate at 5/min
addresses = (f"198.51.100.{n}" for n in itertools.count(1))


@pytest.fixture(autouse=True)
def slow_rate(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"auth": f"{RATE}/min"}}


def api_post(path, data, fmt="json"):
    return lambda client, xff: client.post(path, data, format=fmt, HTTP_X_FORWARDED_FOR=xff)


def form_post(path, data):
    return lambda client, xff: client.post(path, data, HTTP_X_FORWARDED_FOR=xff)


WRONG = {"username": "alice", "password": "not-her-password"}
NEW_USER = {"username": "mallory", "password": "short"}
PATHS = {
    "hub login": (APIClient, api_post("/api/login", WRONG)),
    "chat login": (APIClient, api_post("/myapp/login/", WRONG)),
    "api token": (APIClient, api_post("/api/v1/auth/token/", WRONG)),
    "login page": (Client, form_post("/accounts/login/", WRONG)),
    "admin login": (Client, form_post("/admin/login/?next=/admin/", WRONG)),
    "hub registration": (APIClient, api_post("/api/register/submitUserInfo", NEW_USER, "multipart")),
    "chat registration": (APIClient, api_post("/myapp/register/", NEW_USER)),
    "register page": (Client, form_post("/accounts/register/", {**NEW_USER, "password1": "x", "password2": "y"})),
}


def is_throttled(path, response):
    if path == "admin login":
        # The admin's own login page shows the refusal on its form.
        return response.status_code == 200 and "Throttled:" in response.content.decode()
    return response.status_code == 429


@pytest.mark.parametrize("path", PATHS)
def test_every_way_in_throttles_with_a_rotating_forwarded_for(user, path):
    client_class, post = PATHS[path]
    client = client_class()
    for _ in range(RATE):
        response = post(client, next(addresses))
        assert not is_throttled(path, response), response.content[:300]
    response = post(client, next(addresses))
    assert is_throttled(path, response), (response.status_code, response.content[:300])
    if response.status_code == 429:
        assert int(response["Retry-After"]) > 0


def test_all_ways_in_share_one_bucket_per_address(user):
    api, page = APIClient(), Client()
    for n in range(RATE):
        (api.post("/api/login", WRONG, format="json") if n % 2 else page.post("/accounts/login/", WRONG))
    assert APIClient().post("/api/v1/auth/token/", WRONG, format="json").status_code == 429
    # The right password does not get through either.
    right = {"username": "alice", "password": PASSWORD}
    assert APIClient().post("/api/v1/auth/token/", right, format="json").status_code == 429


def test_forwarded_for_counts_only_behind_trusted_proxies(rf, settings):
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9")
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_address(request) == "10.0.0.2"
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_address(request) == "203.0.113.9"  # what our proxy saw; the first entry is the caller's claim
    settings.TRUSTED_PROXY_COUNT = 2
    assert client_address(request) == "6.6.6.6"


def test_behind_a_trusted_proxy_each_real_client_has_its_own_bucket(user, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    client = APIClient()
    for _ in range(RATE):
        client.post("/api/login", WRONG, format="json", HTTP_X_FORWARDED_FOR="spoofed, 203.0.113.1")
    # Spoofing the left part does not help: the proxy's entry decides.
    response = client.post("/api/login", WRONG, format="json", HTTP_X_FORWARDED_FOR="other, 203.0.113.1")
    assert response.status_code == 429
    response = client.post(
        "/api/login", {"username": "bob", "password": "x"}, format="json", HTTP_X_FORWARDED_FOR="203.0.113.2"
    )
    assert response.status_code == 401


def test_ten_failures_lock_the_account_across_addresses(user, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"auth": "1000/min"}}
    settings.TRUSTED_PROXY_COUNT = 1  # every attempt from another address, as a botnet would
    ways = itertools.cycle([
        lambda xff: APIClient().post("/api/login", WRONG, format="json", HTTP_X_FORWARDED_FOR=xff),
        lambda xff: APIClient().post("/api/v1/auth/token/", WRONG, format="json", HTTP_X_FORWARDED_FOR=xff),
        lambda xff: Client().post("/accounts/login/", WRONG, HTTP_X_FORWARDED_FOR=xff),
        lambda xff: Client().post("/admin/login/", WRONG, HTTP_X_FORWARDED_FOR=xff),
        lambda xff: APIClient().post("/myapp/login/", WRONG, format="json", HTTP_X_FORWARDED_FOR=xff),
    ])
    for _ in range(settings.LOGIN_LOCKOUT_FAILURES):
        assert next(ways)(next(addresses)).status_code in (200, 401)
    right = {"username": "alice", "password": PASSWORD}
    fresh = next(addresses)
    locked = APIClient().post("/api/v1/auth/token/", right, format="json", HTTP_X_FORWARDED_FOR=fresh)
    assert locked.status_code == 429 and "locked" in locked.json()["detail"]
    assert APIClient().post("/api/login", right, format="json", HTTP_X_FORWARDED_FOR=next(addresses)).json()["code"] == 429
    page = Client().post("/accounts/login/", right, HTTP_X_FORWARDED_FOR=next(addresses))
    assert page.status_code == 429 and "locked" in page.content.decode()
    assert "_auth_user_id" not in Client().session
    # Other accounts are not locked.
    assert APIClient().post("/api/v1/auth/token/", {"username": "bob", "password": PASSWORD}, format="json",
                            HTTP_X_FORWARDED_FOR=next(addresses)).status_code in (200, 401)


def test_the_lock_ends_after_its_time(user, settings):
    settings.LOGIN_LOCKOUT_FAILURES = 2
    settings.LOGIN_LOCKOUT_SECONDS = 1
    client = APIClient()
    for _ in range(2):
        client.post("/api/v1/auth/token/", WRONG, format="json")
    right = {"username": "alice", "password": PASSWORD}
    assert client.post("/api/v1/auth/token/", right, format="json").status_code == 429
    time.sleep(1.2)
    assert client.post("/api/v1/auth/token/", right, format="json").status_code == 200
