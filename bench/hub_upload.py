"""A large upload into a hub repository through a real server (gunicorn, one sync worker),
against `cp` + `sync` of the same file; the web worker's memory; and a resumed upload.

    .venv/bin/python bench/hub_upload.py [--size-mb 1024]

Runs in a temporary CRUCIBLE_DATA_DIR (SQLite unless DATABASE_URL is set). Measured, side by
side in one run:

- `cp` of the file followed by `sync` of the copy (durable on disk at the end);
- a raw LFS basic transfer: one PUT of the body to the upload URL the batch API gives (the
  server streams it to a temporary file while hashing, fsyncs it and renames it to its
  content-addressed name: durable at the end too), timed from the PUT to its answer;
- `HfApi.upload_file` of the same content (huggingface_hub, HF_HUB_DISABLE_XET=1): the client
  first hashes the file (sha256), then batch, PUT, verify and commit; timed end to end;
- the same through the multipart transfer (parts of HUB_LFS_PART_BYTES, 64 MiB): the server
  writes each part at its offset, then hashes the assembled file once on completion;
- the clean API's one-request upload: one multipart/form-data POST; Django's parser spools
  the file to FILE_UPLOAD_TEMP_DIR, which is then hashed where it lies and renamed into the
  blob store (no second copy). (The site's upload page no longer uses it: it takes the
  multipart LFS path measured above, after hashing the file in the browser);
- resume: a multipart upload whose connection is dropped in the middle of the part that
  crosses 50 %; the batch API is asked again, lists the parts already stored, and only the
  missing parts are sent;
- the web worker's RSS before and its peak (VmHWM) after all uploads.
"""

import argparse
import hashlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 1024 * 1024
PART = 64 * 1024 * 1024


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_file(path, size, seed):
    block = os.urandom(CHUNK)
    digest = hashlib.sha256()
    with path.open("wb") as handle:
        for i in range(size // CHUNK):
            # Vary each block so the content is not one repeated megabyte.
            data = (seed * 1_000_003 + i).to_bytes(8, "little") + block[8:]
            digest.update(data)
            handle.write(data)
    return digest.hexdigest()


def proc_status_kb(pid, field):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    """User + system CPU time of a process so far: what the upload cost the server, whatever
    else the machine was doing."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker_pids(master):
    return [int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()]


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


def request(method, url, body=None, headers=None):
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=1200)
    conn.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, dict(response.getheaders()), data


def batch(base, repo, token, oid, size, transfers):
    status, _, body = request(
        "POST",
        f"{base}/{repo}.git/info/lfs/objects/batch",
        json.dumps({"operation": "upload", "transfers": transfers, "objects": [{"oid": oid, "size": size}]}),
        {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Accept": "application/vnd.git-lfs+json"},
    )
    assert status == 200, body[:300]
    return json.loads(body)["objects"][0]


def put_range(url, path, offset, length, cut_after=None):
    """PUT `length` bytes of `path` from `offset`, streamed in 1 MiB chunks. With cut_after,
    the connection is closed after that many bytes (a dropped connection)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=1200)
    conn.putrequest("PUT", parts.path)
    conn.putheader("Content-Length", str(length))
    conn.endheaders()
    sent = 0
    with path.open("rb") as handle:
        if cut_after is None:
            # sendfile: the client costs next to nothing, so the time is the server's.
            conn.sock.sendfile(handle, offset, length)
            sent = length
        handle.seek(offset)
        while sent < length:
            data = handle.read(min(CHUNK, length - sent))
            if cut_after is not None and sent + len(data) > cut_after:
                conn.send(data[: cut_after - sent])
                conn.sock.shutdown(socket.SHUT_RDWR)
                conn.close()
                return None, cut_after
            conn.send(data)
            sent += len(data)
    response = conn.getresponse()
    response.read()
    conn.close()
    assert response.status == 200, response.status
    return response.getheader("ETag"), sent


def multipart_post(port, url, token, file_path, name):
    """The clean API's one-request upload: one multipart/form-data POST to the clean API (Django's parser spools
    the file, which is then hashed and renamed into the blob store)."""
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
        conn.sock.sendfile(handle)
    conn.send(tail)
    response = conn.getresponse()
    body = response.read()
    assert response.status == 201, body[:300]


def cp_and_sync(source, target):
    started = time.perf_counter()
    subprocess.run(["cp", str(source), str(target)], check=True)
    subprocess.run(["sync", str(target)], check=True)
    seconds = time.perf_counter() - started
    target.unlink()
    return seconds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads (bin/up runs 4: the gthread worker)")
    args = parser.parse_args()
    size = args.size_mb * CHUNK
    data_dir = Path(tempfile.mkdtemp(prefix="crucible-bench-upload-"))
    env = {
        **os.environ,
        "CRUCIBLE_DATA_DIR": str(data_dir),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "LOG_LEVEL": "WARNING",
        "HUB_MAX_FILE_BYTES": str(64 * 1024**3),
        "HUB_LFS_PART_BYTES": str(PART),
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
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
    token = f"{key.secret_id}:{secret}"
    for name in ("raw", "hfapi", "multipart", "resume", "page"):
        services.create_repository(owner=user, name=name, type="model")

    sources = {}
    started = time.perf_counter()
    for seed, name in enumerate(("raw", "hfapi", "multipart", "resume", "page")):
        path = data_dir / f"{name}.bin"
        sources[name] = (path, make_file(path, size, seed))
    os.sync()
    print(f"generated 5 x {size / CHUNK:.0f} MiB in {time.perf_counter() - started:.1f} s")

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "config.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1", "--timeout", "1200"]
        + (["--threads", str(args.threads)] if args.threads > 1 else []),
        cwd=ROOT,
        env=env,
    )
    results, cpu_used = {}, {}
    try:
        wait_for(port)
        worker = worker_pids(server.pid)[0]
        idle_kb = proc_status_kb(worker, "VmRSS")
        cp_runs = []

        # 1. cp + sync, then the raw basic transfer, alternating cp runs around the uploads.
        cp_runs.append(cp_and_sync(sources["raw"][0], data_dir / "copy.bin"))
        path, oid = sources["raw"]
        answer = batch(base, "bench-uploader/raw", token, oid, size, ["basic"])
        started, cpu = time.perf_counter(), cpu_seconds(worker)
        put_range(answer["actions"]["upload"]["href"], path, 0, size)
        results["raw PUT (basic)"] = time.perf_counter() - started
        cpu_used["raw PUT (basic)"] = cpu_seconds(worker) - cpu
        cp_runs.append(cp_and_sync(sources["raw"][0], data_dir / "copy.bin"))

        # 2. HfApi.upload_file (client hashes first, then basic or multipart as the server says).
        from huggingface_hub import HfApi
        from huggingface_hub import constants as hf_constants

        hf_constants.HF_HUB_DISABLE_XET = True
        api = HfApi(endpoint=base, token=token)
        path, oid = sources["hfapi"]
        started, cpu = time.perf_counter(), cpu_seconds(worker)
        api.upload_file(path_or_fileobj=str(path), path_in_repo="weights.bin", repo_id="bench-uploader/hfapi")
        results["HfApi.upload_file (multipart)"] = time.perf_counter() - started
        cpu_used["HfApi.upload_file (multipart)"] = cpu_seconds(worker) - cpu
        cp_runs.append(cp_and_sync(sources["raw"][0], data_dir / "copy.bin"))

        # 3. Multipart by hand (no client hashing): parts, then completion.
        path, oid = sources["multipart"]
        answer = batch(base, "bench-uploader/multipart", token, oid, size, ["basic", "multipart"])
        header = answer["actions"]["upload"]["header"]
        chunk = int(header["chunk_size"])
        started, cpu = time.perf_counter(), cpu_seconds(worker)
        etags = []
        for number in range(1, -(-size // chunk) + 1):
            etag, _ = put_range(header[str(number)], path, (number - 1) * chunk, min(chunk, size - (number - 1) * chunk))
            etags.append({"partNumber": number, "etag": etag})
        status, _, body = request("POST", answer["actions"]["upload"]["href"], json.dumps({"oid": oid, "parts": etags}))
        assert status == 200, body
        results["raw multipart"] = time.perf_counter() - started
        cpu_used["raw multipart"] = cpu_seconds(worker) - cpu

        # 4. The clean API's one-request upload (multipart/form-data).
        path, oid = sources["page"]
        started, cpu = time.perf_counter(), cpu_seconds(worker)
        multipart_post(port, "/api/v1/hub/repos/model/bench-uploader/page/upload", token, path, "weights.bin")
        results["clean API POST (one request)"] = time.perf_counter() - started
        cpu_used["clean API POST (one request)"] = cpu_seconds(worker) - cpu

        # 5. Resume: the connection drops inside the part that crosses 50 %.
        path, oid = sources["resume"]
        answer = batch(base, "bench-uploader/resume", token, oid, size, ["basic", "multipart"])
        header = answer["actions"]["upload"]["header"]
        count = -(-size // chunk)
        half_part = (size // 2) // chunk + 1
        first_sent = 0
        for number in range(1, half_part + 1):
            length = min(chunk, size - (number - 1) * chunk)
            cut = (size // 2) - (number - 1) * chunk if number == half_part else None
            _, sent = put_range(header[str(number)], path, (number - 1) * chunk, length, cut_after=cut)
            first_sent += sent
        again = batch(base, "bench-uploader/resume", token, oid, size, ["basic", "multipart"])
        done = {int(n): e for n, e in again["completed_parts"].items()}
        started = time.perf_counter()
        resumed_sent = 0
        for number in range(1, count + 1):
            if number in done:
                continue
            length = min(chunk, size - (number - 1) * chunk)
            done[number], sent = put_range(again["actions"]["upload"]["header"][str(number)], path, (number - 1) * chunk, length)
            resumed_sent += sent
        parts = [{"partNumber": n, "etag": e} for n, e in sorted(done.items())]
        status, _, body = request("POST", again["actions"]["upload"]["href"], json.dumps({"oid": oid, "parts": parts}))
        assert status == 200, body
        resume_seconds = time.perf_counter() - started
        peak_kb = proc_status_kb(worker, "VmHWM")
    finally:
        server.terminate()
        server.wait(timeout=30)

    from hub.models import Blob

    for name, (path, oid) in sources.items():
        assert Blob.objects.filter(sha256=oid, size=size).exists(), name
    cp_seconds = sorted(cp_runs)[len(cp_runs) // 2]
    mib = size / CHUNK
    print(f"{'':34} {'seconds':>8} {'MiB/s':>8} {'cp+sync / this':>15} {'server CPU s':>13}")
    print(f"{'cp + sync (median of ' + str(len(cp_runs)) + ')':34} {cp_seconds:8.2f} {mib / cp_seconds:8.0f}"
          f"   runs: {', '.join(f'{t:.2f}' for t in cp_runs)}")
    for label, seconds in results.items():
        print(f"{label:34} {seconds:8.2f} {mib / seconds:8.0f} {cp_seconds / seconds:14.2f}x {cpu_used[label]:13.2f}")
    print(f"resume: {first_sent / CHUNK:.0f} MiB sent before the drop ({len(again['completed_parts'])} of {count} parts "
          f"stored), then {resumed_sent / CHUNK:.0f} MiB ({count - len(again['completed_parts'])} parts) "
          f"in {resume_seconds:.2f} s; blob verified")
    print(f"web worker RSS before the uploads: {idle_kb / 1024:.0f} MiB, peak after all of them: {peak_kb / 1024:.0f} MiB "
          f"(+{(peak_kb - idle_kb) / 1024:.0f} MiB)")
    shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
