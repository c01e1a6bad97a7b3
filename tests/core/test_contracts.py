"""Every contract operation of shared/specs/endpoints.md answers malformed input with a 4xx.

The table there is the checklist of the 60 operations; this test reads it, so an operation
added to the specs is covered as soon as it is routed.
"""

import re
from pathlib import Path

import pytest
from django.urls import Resolver404, resolve

from tests.factories import UserFactory

ENDPOINTS = Path(__file__).resolve().parents[2].parent / "shared" / "specs" / "endpoints.md"
ROW = re.compile(r"^\|\s*(\d+)\s*\|\s*(GET|POST)\s*\|\s*(\S+)\s*\|")


def operations():
    if not ENDPOINTS.exists():
        pytest.skip(f"{ENDPOINTS} not found (shared/specs sits beside the checkout)")
    rows = [ROW.match(line) for line in ENDPOINTS.read_text().splitlines()]
    return [(m.group(2), m.group(3).replace("{taskId}", "no-such-task")) for m in rows if m]


MALFORMED = [
    ("not json", "application/json"),
    ("[1, 2, 3]", "application/json"),
    ('{"userId": {"$ne": null}, "name": [1], "pageNum": "x", "taskId": -1}', "application/json"),
    ("\x00\xff garbage", "application/octet-stream"),
]


def test_the_checklist_has_sixty_operations_and_all_are_routed():
    ops = operations()
    assert len(ops) == 60
    missing = []
    for _, path in ops:
        try:
            resolve(path)
        except Resolver404:
            missing.append(path)
    assert not missing


def each_operation():
    rows = [ROW.match(line) for line in ENDPOINTS.read_text().splitlines()] if ENDPOINTS.exists() else []
    return [pytest.param(m.group(2), m.group(3).replace("{taskId}", "no-such-task"), id=f"{m.group(2)} {m.group(3)}")
            for m in rows if m]


@pytest.mark.django_db
@pytest.mark.parametrize("authenticated", [False, True], ids=["anonymous", "signed-in"])
@pytest.mark.parametrize("method, path", each_operation())
def test_malformed_requests_never_cause_a_server_error(client, authenticated, method, path):
    if authenticated:
        client.force_login(UserFactory(username="fuzzer", role="operator"))
    if method == "GET":
        attempts = [client.get(path, {"pageIndex": "x", "name": "\x00", "experiment_id": "../../etc", "task_id": "-1"})]
    else:
        attempts = [client.post(path, data=body, content_type=ctype) for body, ctype in MALFORMED]
        attempts.append(client.post(path))
    failures = [f"{method} {path} -> {r.status_code}" for r in attempts if r.status_code >= 500]
    assert not failures, "\n".join(failures)
