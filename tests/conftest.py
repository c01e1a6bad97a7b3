import os
from pathlib import Path

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from tests import documented
from tests.browser import browser, page  # noqa: F401  (Playwright fixtures for @pytest.mark.browser tests)
from tests.factories import PASSWORD, UserFactory
from tests.worker import start_worker, stop_worker, wait_for_worker

documented.install()  # every facade answer of every test is checked against its OpenAPI document


def pytest_sessionfinish(session, exitstatus):
    """After a green run of the whole suite, every spec operation must have been seen answering a
    200 that its OpenAPI document describes (tests/documented.py)."""
    options = session.config.option
    whole = all(Path(arg).resolve() == Path(__file__).resolve().parent for arg in session.config.args)
    partial = not whole or options.keyword or options.markexpr or options.maxfail or session.testscollected < 1000
    if partial and not os.environ.get("DOCUMENTED_REPORT"):  # DOCUMENTED_REPORT=1: report on a partial run too
        return
    unanswered = documented.unanswered_operations()
    if unanswered:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        reporter.write_line(f"{len(unanswered)} spec operations never answered a documented 200 in this run:", red=True)
        for operation in unanswered:
            reporter.write_line(f"  {operation}", red=True)
        if exitstatus == 0 and not partial:
            session.exitstatus = 1


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    _forget_process_caches()
    yield
    cache.clear()
    _forget_process_caches()


def _forget_process_caches():
    """The gateway's per-process caches and request counts (a rolled-back test's ids are reused by the next)."""
    from accounts.services import forget_cached_keys
    from serving import gateway

    forget_cached_keys()
    gateway.forget_routes()
    with gateway.request_counts.lock:
        gateway.request_counts.pending.clear()


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def password():
    return PASSWORD


@pytest.fixture
def user(db):
    return UserFactory(username="alice")


@pytest.fixture
def other_user(db):
    return UserFactory(username="bob")


@pytest.fixture
def auth_client(user):
    """An API client authenticated as `user` with a JWT."""
    from accounts.services import issue_tokens

    client = APIClient()
    access, _ = issue_tokens(user)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker):
    """One real worker process for the session, consuming every queue.

    Tests that use it need @pytest.mark.django_db(transaction=True) so that the
    worker sees their rows.
    """
    with django_db_blocker.unblock():
        process = start_worker(name="session")
        try:
            wait_for_worker(process, "session@")
        except Exception:
            stop_worker(process)
            raise
    yield process
    stop_worker(process)
