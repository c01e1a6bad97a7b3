"""Bodies that arrive on a socket (gunicorn's, through hub.hf_write.raw_body_reader) are moved
into their file by the kernel (splice) and hashed from the page cache: the same blob, the same
refusals as the copying path. Tested here on a real TCP connection over loopback."""

import hashlib
import os
import socket
import threading

import pytest

from core.errors import InvalidInput
from hub import services, storage
from hub.models import Blob, LfsUpload
from tests.hub.factories import make_repo

pytestmark = [pytest.mark.django_db, pytest.mark.skipif(not hasattr(os, "splice"), reason="Linux splice(2)")]


def connection_sending(data, close_after=None):
    """(server side socket, thread): a client on loopback sends `data` (or its first
    `close_after` bytes, then closes)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def send():
        with socket.create_connection(("127.0.0.1", port)) as client:
            client.sendall(data if close_after is None else data[:close_after])

    thread = threading.Thread(target=send)
    thread.start()
    server, _ = listener.accept()
    listener.close()
    return server, thread


def body_reader(sock, head_length=0):
    """A read(n) as raw_body_reader makes it: `head_length` bytes already read off the socket."""
    head = b""
    while len(head) < head_length:
        head += sock.recv(head_length - len(head))

    def read(size):  # never used on the splice path
        raise AssertionError("the body was read through Python")

    read.socket_source = (sock, head)
    return read


def test_a_spliced_body_becomes_the_same_blob(db):
    data = os.urandom(11 * 1024 * 1024 + 333)
    sock, thread = connection_sending(data)
    blob = storage.store_stream(body_reader(sock, head_length=4000), len(data),
                                expected_sha256=hashlib.sha256(data).hexdigest())
    thread.join()
    sock.close()
    assert blob.created and blob.size == len(data) and blob.sha256 == hashlib.sha256(data).hexdigest()
    with storage.open_blob(blob) as stored:
        assert stored.read() == data
    assert list((storage.local_root() / "hub" / "tmp").iterdir()) == []


def test_a_short_or_wrong_body_is_refused_and_nothing_is_kept(db):
    data = os.urandom(3 * 1024 * 1024)
    sock, thread = connection_sending(data, close_after=1024 * 1024)
    with pytest.raises(InvalidInput, match="ended after 1048576 of 3145728 bytes"):
        storage.store_stream(body_reader(sock), len(data))
    thread.join()
    sock.close()

    sock, thread = connection_sending(data)
    with pytest.raises(InvalidInput, match="content sha256 is"):
        storage.store_stream(body_reader(sock), len(data), expected_sha256="0" * 64)
    thread.join()
    sock.close()
    assert not Blob.objects.exists()
    assert list((storage.local_root() / "hub" / "tmp").iterdir()) == []


def test_multipart_parts_are_spliced_at_their_offsets(user, settings):
    settings.HUB_LFS_PART_BYTES = 1024 * 1024
    repo = make_repo(user, "parts")
    data = os.urandom(2 * 1024 * 1024 + 77)
    oid = hashlib.sha256(data).hexdigest()
    upload = services.open_lfs_upload(repo=repo, user=user, sha256=oid, size=len(data))
    etags = []
    for number in (3, 1, 2):  # in any order
        part = data[(number - 1) * upload.part_size:number * upload.part_size]
        sock, thread = connection_sending(part)
        etags.append({"partNumber": number, "etag": services.store_lfs_part(
            upload=upload, number=number, read=body_reader(sock, head_length=10))})
        thread.join()
        sock.close()
    blob = services.complete_lfs_upload(repo=repo, sha256=oid, size=len(data), parts=etags)
    assert blob.sha256 == oid and not LfsUpload.objects.exists()
    with storage.open_blob(blob) as stored:
        assert stored.read() == data
