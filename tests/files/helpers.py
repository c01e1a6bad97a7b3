from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

UPLOAD_FOLDER = "/api/file/file/uploadFolder"
UPLOAD_PUBLIC = "/api/file/file/uploadPublicFolder"
UPLOADED = {"success": True, "errorCode": 200, "message": "文件上传成功", "result": None}


def a_file(name="hello.txt", content=b"hello, crucible\n"):
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


def plat_error(response, status):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False
    assert body["errorCode"] == status
    assert body["result"] is None
    assert body["message"]
    return body


def stored_blobs():
    """Files under MEDIA_ROOT/files: the bytes the file spaces keep."""
    root = Path(settings.MEDIA_ROOT) / "files"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
