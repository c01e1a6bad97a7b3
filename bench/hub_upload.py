"""A 1 GB upload into a hub repository through a real server (gunicorn, one sync worker):
throughput, its ratio to `cp` of the same file, and the server's peak memory.

    .venv/bin/python bench/hub_upload.py [--size-mb 1024]

Runs in a temporary CRUCIBLE_DATA_DIR (SQLite unless DATABASE_URL is set). The file is
generated on disk and streamed to POST /api/v1/hub/repos/model/<owner>/<name>/upload with an
API key, in 1 MB chunks from this process (whose own memory stays flat too). The upload time
covers what the server does: spool the multipart body to a temporary file, copy it into
storage while hashing (sha256 and git sha1), commit.
"""

import argparse
import http.client
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 1024 * 1024


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_file(path, size):
    block = os.urandom(CHUNK)
    with path.open("wb") as handle:
        for i in range(size // CHUNK):
            # Vary each block so the content is not one repeated megabyte.
            handle.write(i.to_bytes(8, "little") + block[8:])


def proc_status_kb(pid, field):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def vm_hwm_kb(pid):
    return proc_status_kb(pid, "VmHWM")


def vm_rss_kb(pid):
    return proc_status_kb(pid, "VmRSS")


def worker_pids(master):
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def wait_for(port, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("server did not start")


def stream_upload(port, url, token, file_path, name):
    boundary = "crucible-bench-boundary"
    head = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"message\"\r\n\r\nBenchmark upload\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\n"
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = file_path.stat().st_size
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1200)
    conn.putrequest("POST", url)
    conn.putheader("Authorization", f"Bearer {token}")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(len(head) + size + len(tail)))
    conn.endheaders()
    conn.send(head)
    with file_path.open("rb") as handle:
        while data := handle.read(CHUNK):
            conn.send(data)
    conn.send(tail)
    response = conn.getresponse()
    body = response.read()
    if response.status != 201:
        raise RuntimeError(f"upload failed: {response.status} {body[:300]!r}")
    return json.loads(body)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=1024)
    args = parser.parse_args()
    size = args.size_mb * CHUNK
    data_dir = Path(tempfile.mkdtemp(prefix="crucible-bench-upload-"))
    env = {
        **os.environ,
        "CRUCIBLE_DATA_DIR": str(data_dir),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "LOG_LEVEL": "WARNING",
        "HUB_MAX_FILE_BYTES": str(4 * 1024**3),
    }
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    from accounts.services import create_api_key
    from hub import services
    from tests.factories import UserFactory

    call_command("migrate", verbosity=0)
    user = UserFactory(username="bench-uploader")
    key, secret = create_api_key(user)
    services.create_repository(owner=user, name="big", type="model")

    source = data_dir / "source.bin"
    started = time.perf_counter()
    make_file(source, size)
    os.sync()
    print(f"generated {size / CHUNK:.0f} MB in {time.perf_counter() - started:.1f} s")

    port = free_port()
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "config.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1", "--timeout", "1200"],
        cwd=ROOT,
        env=env,
    )
    try:
        wait_for(port)
        idle_kb = max(vm_rss_kb(pid) for pid in worker_pids(server.pid))
        started = time.perf_counter()
        result = stream_upload(port, "/api/v1/hub/repos/model/bench-uploader/big/upload", f"{key.secret_id}:{secret}", source, "weights.bin")
        upload_seconds = time.perf_counter() - started
        peak_kb = max(vm_hwm_kb(pid) for pid in worker_pids(server.pid))
    finally:
        server.terminate()
        server.wait(timeout=30)

    # Neither side forces its writes to disk (no sync): both go through the page cache.
    # cp is fast and noisy on a shared machine: the median of three copies.
    cp_runs = []
    for attempt in range(3):
        copy_target = data_dir / f"copy-{attempt}.bin"
        started = time.perf_counter()
        subprocess.run(["cp", str(source), str(copy_target)], check=True)
        cp_runs.append(time.perf_counter() - started)
        copy_target.unlink()
    cp_seconds = sorted(cp_runs)[1]

    from hub.models import Blob

    blob = Blob.objects.get(size=size)
    mb = size / CHUNK
    print(f"commit {result['id'][:10]}, blob sha256 {blob.sha256[:16]}…, {blob.size} bytes")
    print(f"{'':24} {'seconds':>8} {'MB/s':>8}")
    print(f"{'upload (HTTP, gunicorn)':24} {upload_seconds:8.2f} {mb / upload_seconds:8.0f}")
    print(f"{'cp (median of 3)':24} {cp_seconds:8.2f} {mb / cp_seconds:8.0f}   runs: {', '.join(f'{t:.2f}' for t in cp_runs)}")
    print(f"upload time / cp time: {upload_seconds / cp_seconds:.2f}x")
    print(f"server worker RSS before the upload: {idle_kb / 1024:.0f} MB, peak: {peak_kb / 1024:.0f} MB; "
          f"this client's peak RSS: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
