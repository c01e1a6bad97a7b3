"""tests/documented.py checks every facade answer of every test against its OpenAPI document; these
tests show that the check is real: a true answer passes and is recorded, a drifted one fails."""

import json

import pytest
from django.http import HttpResponse

from tests import documented

pytestmark = pytest.mark.django_db

FIND = "/docker/image/findListSort"


def test_a_real_answer_is_checked_and_recorded(auth_client):
    documented.SEEN_OK.discard(("POST", FIND))
    response = auth_client.post(FIND, {"pageNum": 1, "pageSize": 5}, format="json")
    assert response.status_code == 200
    assert ("POST", FIND) in documented.SEEN_OK


def test_an_answer_that_drifted_from_its_document_fails():
    drifted = HttpResponse(json.dumps({"success": True, "errorCode": "200", "message": "success",
                                       "result": {"total": "3", "rows": []}}), content_type="application/json")
    with pytest.raises(AssertionError, match=r"findListSort answered 200 .* at errorCode"):
        documented.check_answer({"PATH_INFO": FIND, "REQUEST_METHOD": "POST"}, drifted)


def test_a_missing_field_fails():
    missing = HttpResponse(json.dumps({"success": True, "errorCode": 200, "message": "success",
                                       "result": {"rows": []}}), content_type="application/json")
    with pytest.raises(AssertionError, match="'total' is a required property"):
        documented.check_answer({"PATH_INFO": FIND, "REQUEST_METHOD": "POST"}, missing)


def test_an_undocumented_status_fails():
    teapot = HttpResponse(json.dumps({}), content_type="application/json", status=418)
    with pytest.raises(AssertionError, match="does not document status 418"):
        documented.check_answer({"PATH_INFO": FIND, "REQUEST_METHOD": "POST"}, teapot)


def test_answers_of_other_views_are_not_facade_answers():
    documented.check_answer({"PATH_INFO": "/healthz", "REQUEST_METHOD": "GET"},
                            HttpResponse("{}", content_type="application/json", status=418))
