"""core.facades: the one kit of the spec facades (input serializers, the page rule, the userId
check, envelope schemas generated from the serializers that answer), shown on the images facade."""

import pytest
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator

from images import services
from images.compat import ImageRow

pytestmark = pytest.mark.django_db

FIND = "/docker/image/findListSort"
CREATE = "/docker/image/upload"


@pytest.fixture
def images(user):
    return [services.create_image(owner=user, name=f"lab/img-{i}") for i in range(12)]


def plat_error(response, status):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False and body["errorCode"] == status and body["result"] is None
    return body["message"]


def test_one_page_rule_missing_or_zero_is_the_first_page(auth_client, images):
    for body in ({}, {"pageNum": 0, "pageSize": 0}, {"pageNum": "1"}, {"pageNum": None, "pageSize": None}):
        result = auth_client.post(FIND, body, format="json").json()["result"]
        assert result["total"] == 12 and len(result["rows"]) == 10, body
    second = auth_client.post(FIND, {"pageNum": 2, "pageSize": 10}, format="json").json()["result"]
    assert len(second["rows"]) == 2
    past = auth_client.post(FIND, {"pageNum": 9}, format="json").json()["result"]
    assert past == {"total": 12, "rows": []}
    assert "pageNum" in plat_error(auth_client.post(FIND, {"pageNum": True}, format="json"), 400)
    assert "pageNum" in plat_error(auth_client.post(FIND, {"pageNum": -1}, format="json"), 400)
    assert "pageNum" in plat_error(auth_client.post(FIND, {"pageNum": 1.5}, format="json"), 400)
    assert "pageSize" in plat_error(auth_client.post(FIND, {"pageSize": 101}, format="json"), 400)


def test_types_are_checked_and_a_user_id_is_a_check(auth_client, user, other_user):
    assert "imageName" in plat_error(auth_client.post(CREATE, {"imageName": 12}, format="json"), 400)
    assert "imageName" in plat_error(auth_client.post(CREATE, {"imageName": ["a"]}, format="json"), 400)
    assert "JSON object" in plat_error(auth_client.post(CREATE, [1, 2], format="json"), 400)
    message = plat_error(auth_client.post(CREATE, {"imageName": "lab/x", "userId": other_user.pk}, format="json"), 403)
    assert "userId" in message
    created = auth_client.post(CREATE, {"imageName": "lab/x", "userId": user.username}, format="json").json()
    assert created["success"] is True and created["result"]["imageName"] == "lab/x"


def test_the_document_is_the_serializers_that_answer(auth_client, images):
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operation = schema["paths"][FIND]["post"]
    assert set(operation["responses"]) >= {"200", "400", "401", "403", "404"}
    components = schema["components"]["schemas"]
    answer = components["FindImagesAnswer"]
    assert set(answer["properties"]) == {"success", "errorCode", "message", "result"}
    row_fields = set(components["ImageRow"]["properties"])
    real = auth_client.post(FIND, {}, format="json").json()
    assert set(real) == set(answer["properties"])
    assert set(real["result"]) == set(components["FindImagesResult"]["properties"])
    assert set(real["result"]["rows"][0]) == row_fields == set(ImageRow().fields)
    request_fields = set(components["FindImagesRequest"]["properties"])
    assert request_fields == {"pageNum", "pageSize", "imageName", "userId"}
    assert reverse("images:spec-find-list-sort") == FIND
