"""Small real image tarballs built with tarfile (for the demo seed and the tests).

build_docker_save(files) writes a `docker save` archive (manifest.json, repositories,
<config digest>.json, <layer id>/layer.tar) whose single layer holds `files`
({path: bytes}); build_oci_layout(files) writes an OCI image layout (oci-layout,
index.json, blobs/sha256/...) with a gzip-compressed layer. Both carry a real config
(architecture, os, entrypoint, cmd, env, exposed ports, rootfs.diff_ids).
"""

import gzip
import hashlib
import io
import json
import tarfile
import time


def layer_tar(files):
    """An uncompressed layer tar of {path: bytes} (directories created as needed)."""
    buffer = io.BytesIO()
    mtime = 1700000000
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        folders = set()
        for path in sorted(files):
            parts = path.split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                folder = "/".join(parts[:depth])
                if folder not in folders:
                    folders.add(folder)
                    info = tarfile.TarInfo(folder + "/")
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, mtime
                    tar.addfile(info)
            data = files[path]
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o755 if path.endswith(".sh") else 0o644, mtime
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def image_config(diff_ids, *, entrypoint=None, cmd=None, env=None, ports=None, architecture="amd64"):
    return {
        "architecture": architecture,
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": {
            "Entrypoint": entrypoint if entrypoint is not None else ["/app/run.sh"],
            "Cmd": cmd if cmd is not None else ["--serve"],
            "Env": env if env is not None else ["PATH=/usr/local/bin:/usr/bin:/bin", "MODEL_DIR=/models"],
            "ExposedPorts": {port: {} for port in (ports if ports is not None else ["8080/tcp"])},
            "WorkingDir": "/app",
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "crucible images.builders"}],
    }


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def _add(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
    tar.addfile(info, io.BytesIO(data))


def build_docker_save(files, *, repo_tag="crucible/demo:1.0", **config_options):
    """(archive bytes, details) of a docker-save tarball with one layer holding `files`."""
    layer = layer_tar(files)
    layer_digest = sha256(layer)
    config = json.dumps(image_config([f"sha256:{layer_digest}"], **config_options), sort_keys=True).encode()
    config_digest = sha256(config)
    layer_id = sha256(f"{config_digest}:{layer_digest}".encode())
    manifest = [{"Config": f"{config_digest}.json", "RepoTags": [repo_tag], "Layers": [f"{layer_id}/layer.tar"]}]
    name, _, tag = repo_tag.rpartition(":")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        _add(tar, f"{layer_id}/VERSION", b"1.0")
        _add(tar, f"{layer_id}/json", json.dumps({"id": layer_id}).encode())
        _add(tar, f"{layer_id}/layer.tar", layer)
        _add(tar, f"{config_digest}.json", config)
        _add(tar, "manifest.json", json.dumps(manifest).encode())
        _add(tar, "repositories", json.dumps({name: {tag: layer_id}}).encode())
    details = {
        "config_digest": f"sha256:{config_digest}",
        "config_size": len(config),
        "layers": [{"digest": f"sha256:{layer_digest}", "diff_id": f"sha256:{layer_digest}", "size": len(layer)}],
    }
    return buffer.getvalue(), details


def build_oci_layout(files, *, ref_name="1.0", **config_options):
    """(archive bytes, details) of an OCI image layout with one gzip layer holding `files`."""
    layer = layer_tar(files)
    diff_id = sha256(layer)
    compressed = gzip.compress(layer, mtime=0)
    config = json.dumps(image_config([f"sha256:{diff_id}"], **config_options), sort_keys=True).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": f"sha256:{sha256(config)}",
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": f"sha256:{sha256(compressed)}",
                    "size": len(compressed),
                }
            ],
        }
    ).encode()
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": f"sha256:{sha256(manifest)}",
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": ref_name},
                "platform": {"architecture": config_options.get("architecture", "amd64"), "os": "linux"},
            }
        ],
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        _add(tar, "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
        _add(tar, "index.json", json.dumps(index).encode())
        for blob in (config, manifest, compressed):
            _add(tar, f"blobs/sha256/{sha256(blob)}", blob)
    details = {
        "config_digest": f"sha256:{sha256(config)}",
        "config_size": len(config),
        "manifest_digest": f"sha256:{sha256(manifest)}",
        "layers": [{"digest": f"sha256:{sha256(compressed)}", "diff_id": f"sha256:{diff_id}", "size": len(compressed)}],
    }
    return buffer.getvalue(), details


def demo_files():
    """The files of the demo image's layer: a tiny serving script and its config."""
    return {
        "app/run.sh": b"#!/bin/sh\nexec python3 /app/serve.py \"$@\"\n",
        "app/serve.py": (
            b"import http.server, json\n\n"
            b"class Handler(http.server.BaseHTTPRequestHandler):\n"
            b"    def do_GET(self):\n"
            b"        body = json.dumps({'status': 'ok'}).encode()\n"
            b"        self.send_response(200)\n"
            b"        self.end_headers()\n"
            b"        self.wfile.write(body)\n\n"
            b"http.server.HTTPServer(('', 8080), Handler).serve_forever()\n"
        ),
        "etc/crucible/serving.json": json.dumps({"port": 8080, "model_dir": "/models"}).encode(),
    }
