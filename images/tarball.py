"""Reading container image tarballs: `docker save` archives and OCI image layouts.

The archive is read once, as a stream (tarfile mode "r|", after our own decompression),
so it never needs to be seekable or local. Every regular member is copied into a
private staging folder under a numbered name (member names are never used as paths)
while its sha256 is computed. Then the image is parsed and every digest checked:

- docker save: manifest.json -> Config and Layers. A config named by its digest
  (`<hex>.json`, `blobs/sha256/<hex>`) must hash to it; each layer must match the
  config's rootfs.diff_ids (gzip layers are decompressed, as a stream, to check).
- OCI layout: oci-layout and index.json -> manifest (an image index is followed to the
  linux/amd64 or first manifest) -> config and layers. Every descriptor's blob must exist
  at blobs/sha256/<hex> with that digest and size, and layers match the diff_ids too.

Refused, with a reason, before anything is kept: more members, a larger member or more
bytes in all than the limits; a decompressed stream larger than its cap (the expansion
ratio times the archive's size, checked as it streams, before the bytes are written);
members that would stage more than the owner's storage quota left; names that are absolute or contain "..", links pointing
outside the archive; devices and fifos; corrupt or truncated archives. Only the config,
manifest and layers of a verified image move from staging into the store
(<store>/blobs/sha256/<hex>); staging is deleted in every case.
"""

import bz2
import gzip
import hashlib
import json
import lzma
import os
import posixpath
import re
import shutil
import tarfile
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

CHUNK = 1024 * 1024
JSON_MAX_BYTES = 8 * 1024 * 1024
LINK_HOPS_MAX = 16
TAIL_BYTES = 64 * 1024
DIGEST_RE = re.compile(r"^sha256:([0-9a-f]{64})\Z")
HEX_NAME_RE = re.compile(r"^(?:blobs/sha256/)?([0-9a-f]{64})(?:\.json)?\Z")
INDEX_TYPES = {
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
}


class ArchiveError(Exception):
    """The archive is refused; the message is the reason shown to the user."""


@dataclass
class Limits:
    max_members: int
    max_member_bytes: int
    max_total_bytes: int
    # The most bytes the decompressed tar stream may have (the expansion cap), None: no cap.
    max_stream_bytes: int | None = None
    # What staging may write: the owner's storage quota left, None: unlimited.
    quota_bytes: int | None = None


# Below this many bytes a decompressed stream is never refused for its ratio: the tar
# format alone (512-byte headers, 10 KiB records) makes tiny archives compress 50x.
EXPANSION_FLOOR_BYTES = 1024 * 1024


def expansion_cap(archive_bytes, ratio):
    """The most bytes an archive of `archive_bytes` may unpack to at `ratio`."""
    return max(EXPANSION_FLOOR_BYTES, int(archive_bytes * ratio))


@dataclass
class Staged:
    name: str
    path: Path
    size: int
    sha256: str


@dataclass
class Archive:
    files: dict = field(default_factory=dict)  # name -> Staged
    links: dict = field(default_factory=dict)  # name -> target name

    def resolve(self, name):
        """The staged file a name refers to, following links; None if missing."""
        for _ in range(LINK_HOPS_MAX):
            if name in self.files:
                return self.files[name]
            if name not in self.links:
                return None
            name = self.links[name]
        raise ArchiveError(f"too many links while resolving {name!r}")


# --- streaming --------------------------------------------------------------------------


class TailReader:
    """A read-only stream that counts what passes and keeps the last TAIL_BYTES; past
    `max_bytes` it refuses the archive (a decompression bomb) before the bytes go anywhere."""

    def __init__(self, raw, max_bytes=None):
        self.raw = raw
        self.count = 0
        self.tail = bytearray()
        self.max_bytes = max_bytes

    def read(self, size=-1):
        if self.max_bytes is not None and (size is None or size < 0):
            size = self.max_bytes - self.count + 1
        data = self.raw.read(size)
        self.count += len(data)
        if self.max_bytes is not None and self.count > self.max_bytes:
            raise ArchiveError(
                f"archive bomb refused: the tarball unpacks to more than {self.max_bytes} bytes "
                "(IMAGES_MAX_EXPANSION_RATIO times its size)"
            )
        self.tail += data
        if len(self.tail) > TAIL_BYTES:
            del self.tail[: len(self.tail) - TAIL_BYTES]
        return data

    def block_at(self, offset, length=512):
        start = offset - (self.count - len(self.tail))
        if start < 0:
            return None
        return bytes(self.tail[start : start + length])


def decompressed(fileobj):
    """The tar stream inside a plain, gzip, bzip2 or xz file (by magic number)."""
    head = fileobj.read(6)
    rest = _Prefixed(head, fileobj)
    if head[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=rest, mode="rb")
    if head[:3] == b"BZh":
        return bz2.BZ2File(rest, "rb")
    if head[:6] == b"\xfd7zXZ\x00":
        return lzma.LZMAFile(rest, "rb")
    return rest


class _Prefixed:
    """Bytes already read, then the rest of a stream."""

    def __init__(self, prefix, raw):
        self.prefix = prefix
        self.raw = raw

    def read(self, size=-1):
        if self.prefix:
            if size is None or size < 0:
                data, self.prefix = self.prefix + self.raw.read(), b""
                return data
            data, self.prefix = self.prefix[:size], self.prefix[size:]
            if len(data) < size:
                data += self.raw.read(size - len(data))
            return data
        return self.raw.read(size)

    def readable(self):
        return True


def safe_name(raw):
    """A member name as a clean relative path; ArchiveError for anything that could escape."""
    if "\x00" in raw or "\\" in raw:
        raise ArchiveError(f"unsafe member name {raw!r}: NUL or backslash")
    if raw.startswith("/") or re.match(r"^[A-Za-z]:", raw):
        raise ArchiveError(f"unsafe member name {raw!r}: absolute path")
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ArchiveError(f"unsafe member name {raw!r}: '..' would leave the archive")
    return "/".join(parts)


def link_target(name, linkname, symbolic):
    """Where a link points, as an archive name; ArchiveError if that is outside the archive."""
    if linkname.startswith("/") or "\x00" in linkname or "\\" in linkname:
        raise ArchiveError(f"link {name!r} points outside the archive: {linkname!r}")
    parts = posixpath.dirname(name).split("/") if symbolic and "/" in name else []
    for part in linkname.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise ArchiveError(f"link {name!r} points outside the archive: {linkname!r}")
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)


def stage_members(fileobj, staging, limits):
    """Copy every regular member into `staging`, hashing it; return the Archive."""
    archive = Archive()
    members = total = 0
    try:
        stream = TailReader(decompressed(fileobj), limits.max_stream_bytes)
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                members += 1
                if members > limits.max_members:
                    raise ArchiveError(f"archive bomb refused: more than {limits.max_members} members")
                name = safe_name(member.name)
                if member.isdir() or not name:
                    continue
                if member.issym() or member.islnk():
                    archive.links[name] = link_target(name, member.linkname, member.issym())
                    continue
                if not member.isreg():
                    raise ArchiveError(f"unsupported member {name!r}: devices, fifos and the like are refused")
                if member.size > limits.max_member_bytes:
                    raise ArchiveError(
                        f"archive bomb refused: member {name!r} has {member.size} bytes, "
                        f"more than the limit of {limits.max_member_bytes}"
                    )
                total += member.size
                if total > limits.max_total_bytes:
                    raise ArchiveError(f"archive bomb refused: members hold more than {limits.max_total_bytes} bytes")
                if limits.quota_bytes is not None and total > limits.quota_bytes:
                    raise ArchiveError(
                        f"storage quota exceeded: staging the archive needs more than the {limits.quota_bytes} "
                        "bytes left in your storage quota"
                    )
                archive.files[name] = _copy_member(tar, member, name, staging / str(members))
            end = stream.block_at(tar.offset)
        if end is None or len(end) < 512:
            raise ArchiveError("truncated archive: it ends without the end-of-archive marker")
        if end.count(0) != 512:
            raise ArchiveError(f"corrupt archive: invalid tar header at byte {tar.offset}")
    except tarfile.ReadError as exc:
        text = str(exc)
        if "unexpected end" in text or "empty file" in text:
            raise ArchiveError(f"truncated archive: {text}") from None
        raise ArchiveError(f"corrupt archive: not a readable tar file ({text})") from None
    except EOFError as exc:
        raise ArchiveError(f"truncated archive: {exc}") from None
    except (zlib.error, lzma.LZMAError, gzip.BadGzipFile, OSError, tarfile.TarError) as exc:
        raise ArchiveError(f"corrupt archive: {exc}") from None
    return archive


def _copy_member(tar, member, name, target):
    source = tar.extractfile(member)
    digest = hashlib.sha256()
    copied = 0
    with open(target, "wb") as out:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
            copied += len(chunk)
    if copied != member.size:
        raise ArchiveError(f"truncated archive: member {name!r} ended after {copied} of {member.size} bytes")
    return Staged(name=name, path=target, size=copied, sha256=digest.hexdigest())


# --- parsing ---------------------------------------------------------------------------


def read_json(staged, what):
    if staged.size > JSON_MAX_BYTES:
        raise ArchiveError(f"{what} is larger than {JSON_MAX_BYTES} bytes")
    try:
        return json.loads(staged.path.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ArchiveError(f"{what} is not valid JSON: {exc}") from None


def uncompressed_sha256(staged, limit):
    """sha256 of a layer's tar stream: the file itself, or its gzip content (streamed)."""
    with open(staged.path, "rb") as handle:
        if handle.read(2) != b"\x1f\x8b":
            return staged.sha256
    digest = hashlib.sha256()
    read = 0
    try:
        with gzip.open(staged.path, "rb") as handle:
            while chunk := handle.read(CHUNK):
                read += len(chunk)
                if read > limit:
                    raise ArchiveError(f"archive bomb refused: layer {staged.name!r} unpacks to more than {limit} bytes")
                digest.update(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        raise ArchiveError(f"layer {staged.name!r} is not a valid gzip stream: {exc}") from None
    return digest.hexdigest()


def _strings(value, what, max_items=1000, max_length=4096):
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or len(value) > max_items:
        raise ArchiveError(f"image config: {what} must be a list of strings")
    return [v[:max_length] for v in value]


def parse_config(config):
    if not isinstance(config, dict):
        raise ArchiveError("image config is not a JSON object")
    run = config.get("config") or {}
    if not isinstance(run, dict):
        raise ArchiveError("image config: config must be an object")
    ports = run.get("ExposedPorts") or {}
    if not isinstance(ports, dict):
        raise ArchiveError("image config: ExposedPorts must be an object")
    rootfs = config.get("rootfs") or {}
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    working_dir = run.get("WorkingDir") or ""
    return {
        "architecture": str(config.get("architecture") or "")[:32],
        "os": str(config.get("os") or "")[:32],
        "variant": str(config.get("variant") or "")[:32],
        "entrypoint": _strings(run.get("Entrypoint"), "Entrypoint"),
        "cmd": _strings(run.get("Cmd"), "Cmd"),
        "env": _strings(run.get("Env"), "Env"),
        "exposed_ports": sorted(str(p)[:32] for p in ports)[:1000],
        "working_dir": str(working_dir)[:1024],
        "diff_ids": _strings(diff_ids, "rootfs.diff_ids", max_items=100000, max_length=71),
    }


def check_diff_ids(layers, diff_ids, limit):
    if len(diff_ids) != len(layers):
        raise ArchiveError(f"image config lists {len(diff_ids)} diff_ids for {len(layers)} layers")
    for index, (layer, diff_id) in enumerate(zip(layers, diff_ids)):
        actual = "sha256:" + uncompressed_sha256(layer["staged"], limit)
        if actual != diff_id:
            raise ArchiveError(
                f"layer {index + 1} ({layer['staged'].name}) does not match the config: "
                f"sha256 {actual}, expected {diff_id}"
            )
        layer["diff_id"] = diff_id


def parse_docker(archive, limit):
    manifest = read_json(_member(archive, "manifest.json", "manifest.json"), "manifest.json")
    if not isinstance(manifest, list) or not manifest or not isinstance(manifest[0], dict):
        raise ArchiveError("manifest.json must be a non-empty list of images")
    entry = manifest[0]
    config_name, layer_names = entry.get("Config"), entry.get("Layers")
    if not isinstance(config_name, str) or not isinstance(layer_names, list):
        raise ArchiveError("manifest.json: an image needs Config and Layers")
    config_file = _member(archive, config_name, "image config")
    named = HEX_NAME_RE.match(safe_name(config_name))
    if named and named.group(1) != config_file.sha256:
        raise ArchiveError(f"config {config_name} has sha256 {config_file.sha256}, not the digest in its name")
    config = parse_config(read_json(config_file, "image config"))
    layers = []
    for name in layer_names:
        if not isinstance(name, str):
            raise ArchiveError("manifest.json: Layers must be member names")
        staged = _member(archive, name, "layer")
        named = re.match(r"^blobs/sha256/([0-9a-f]{64})\Z", safe_name(name))
        if named and named.group(1) != staged.sha256:
            raise ArchiveError(f"layer {name} has sha256 {staged.sha256}, not the digest in its name")
        layers.append({"staged": staged, "media_type": "application/vnd.docker.image.rootfs.diff.tar"})
    check_diff_ids(layers, config["diff_ids"], limit)
    repo_tags = entry.get("RepoTags") or []
    return {
        "format": "docker-save",
        "config": config_file,
        "manifest": None,
        "layers": layers,
        "repo_tags": [t[:200] for t in repo_tags if isinstance(t, str)][:100],
        **config,
    }


def _member(archive, name, what):
    staged = archive.resolve(safe_name(name))
    if staged is None:
        raise ArchiveError(f"{what} {name!r} is missing from the archive")
    return staged


def _blob(archive, descriptor, what):
    """The staged blob of an OCI descriptor, its digest and size verified."""
    if not isinstance(descriptor, dict):
        raise ArchiveError(f"{what}: descriptor must be an object")
    match = DIGEST_RE.match(str(descriptor.get("digest", "")))
    if not match:
        raise ArchiveError(f"{what}: digest must be sha256:<64 hex>")
    hexdigest = match.group(1)
    staged = archive.resolve(f"blobs/sha256/{hexdigest}")
    if staged is None:
        raise ArchiveError(f"{what} blob sha256:{hexdigest} is missing from the archive")
    if staged.sha256 != hexdigest:
        raise ArchiveError(f"{what} blob sha256:{hexdigest} is corrupt: its content hashes to {staged.sha256}")
    size = descriptor.get("size")
    if not isinstance(size, int) or size != staged.size:
        raise ArchiveError(f"{what} blob sha256:{hexdigest} has {staged.size} bytes, descriptor says {size}")
    return staged


def _pick_manifest(manifests):
    for item in manifests:
        platform = item.get("platform") if isinstance(item, dict) else None
        if isinstance(platform, dict) and (platform.get("os"), platform.get("architecture")) == ("linux", "amd64"):
            return item
    return manifests[0]


def parse_oci(archive, limit):
    layout = read_json(_member(archive, "oci-layout", "oci-layout"), "oci-layout")
    if not isinstance(layout, dict) or not str(layout.get("imageLayoutVersion", "")).startswith("1."):
        raise ArchiveError("oci-layout: imageLayoutVersion must be 1.x")
    index = read_json(_member(archive, "index.json", "index.json"), "index.json")
    descriptor = None
    for _ in range(4):
        manifests = index.get("manifests") if isinstance(index, dict) else None
        if not isinstance(manifests, list) or not manifests:
            raise ArchiveError("index.json lists no manifests")
        descriptor = _pick_manifest(manifests)
        if not isinstance(descriptor, dict) or descriptor.get("mediaType") not in INDEX_TYPES:
            break
        index = read_json(_blob(archive, descriptor, "image index"), "image index")
    manifest_file = _blob(archive, descriptor, "manifest")
    manifest = read_json(manifest_file, "manifest")
    if not isinstance(manifest, dict) or not isinstance(manifest.get("layers"), list):
        raise ArchiveError("manifest: needs config and layers")
    config_file = _blob(archive, manifest.get("config"), "config")
    config = parse_config(read_json(config_file, "image config"))
    layers = []
    for position, layer in enumerate(manifest["layers"], start=1):
        staged = _blob(archive, layer, f"layer {position}")
        layers.append({"staged": staged, "media_type": str(layer.get("mediaType", ""))[:200]})
    check_diff_ids(layers, config["diff_ids"], limit)
    annotations = descriptor.get("annotations") or {}
    names = [annotations.get(k) for k in ("io.containerd.image.name", "org.opencontainers.image.ref.name")]
    return {
        "format": "oci",
        "config": config_file,
        "manifest": manifest_file,
        "layers": layers,
        "repo_tags": [n[:200] for n in names if isinstance(n, str)],
        **config,
    }


# --- the store --------------------------------------------------------------------------


class ImageStore:
    """Content-addressed blobs under <root>/blobs/sha256/<hex>; staging under <root>/tmp."""

    def __init__(self, root):
        self.root = Path(root)
        self.blobs = self.root / "blobs" / "sha256"
        self.tmp = self.root / "tmp"

    def blob_path(self, hexdigest):
        return self.blobs / hexdigest

    def keep(self, staged):
        self.blobs.mkdir(parents=True, exist_ok=True)
        target = self.blob_path(staged.sha256)
        if target.exists():
            staged.path.unlink()
        else:
            os.replace(staged.path, target)


def import_archive(fileobj, store, limits, log=lambda line: None):
    """Read, verify and store one image tarball; return what it holds (see module doc)."""
    store.tmp.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="import-", dir=store.tmp))
    try:
        archive = stage_members(fileobj, staging, limits)
        log(f"read {len(archive.files)} files and {len(archive.links)} links")
        if "oci-layout" in archive.files and "index.json" in archive.files:
            image = parse_oci(archive, limits.max_total_bytes)
        elif archive.resolve("manifest.json") is not None:
            image = parse_docker(archive, limits.max_total_bytes)
        else:
            raise ArchiveError(
                "not an image archive: neither manifest.json (docker save) nor oci-layout and index.json (OCI) found"
            )
        log(f"{image['format']}: config and {len(image['layers'])} layers verified")
        kept = [image["config"]] + ([image["manifest"]] if image["manifest"] else [])
        kept += [layer["staged"] for layer in image["layers"]]
        seen = set()
        for staged in kept:
            if staged.sha256 not in seen:
                seen.add(staged.sha256)
                store.keep(staged)
        image["config_digest"] = "sha256:" + image["config"].sha256
        image["manifest_digest"] = "sha256:" + image["manifest"].sha256 if image["manifest"] else ""
        image["layers"] = [
            {
                "digest": "sha256:" + layer["staged"].sha256,
                "diff_id": layer.get("diff_id", ""),
                "size": layer["staged"].size,
                "media_type": layer["media_type"],
            }
            for layer in image["layers"]
        ]
        image["size"] = image["config"].size + sum(layer["size"] for layer in image["layers"])
        del image["config"], image["manifest"], image["diff_ids"]
        return image
    finally:
        shutil.rmtree(staging, ignore_errors=True)
