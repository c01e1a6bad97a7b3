"""Backup and restore of one Crucible instance: the database and the data folder, in one tar.

    crucible-backup/manifest.json       what is inside, from which database, when
    crucible-backup/database.sqlite3    SQLite: a consistent copy (SQLite's online backup)
    crucible-backup/database.pgdump     PostgreSQL: pg_dump --format=custom
    crucible-backup/data/...            the data folder (uploads, hub blobs, training and
                                        evaluation outputs, avatars, images), without what is
                                        rebuilt or transient (static files, broker, tmp, ...)
    crucible-backup/images/...          IMAGES_STORE_DIR when it is outside the data folder

Restore goes into an empty database (a new SQLite file, or a database just made with
`createdb`) and a data folder; `force` replaces a database that already holds tables.
"""

import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from pathlib import Path

from django.conf import settings
from django.db import connection, connections
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from .errors import Conflict, InvalidInput

ROOT = "crucible-backup"
FORMAT = 1
# Under the data folder, not worth keeping: rebuilt (collectstatic), transient (broker
# messages, temporary uploads, per-process metrics, replica port files and logs) or other
# backups. The model copies of served versions (serving/models) are kept.
SKIPPED = {"staticfiles", "broker", "broker-control", "tmp", "prometheus", "serving/replicas", "backups"}
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def _database():
    return settings.DATABASES["default"]


def _vendor():
    return connection.vendor  # "sqlite" or "postgresql"


def _pg_env(db):
    env = {**os.environ}
    for key, variable in (("HOST", "PGHOST"), ("PORT", "PGPORT"), ("USER", "PGUSER"), ("PASSWORD", "PGPASSWORD")):
        if db.get(key):
            env[variable] = str(db[key])
    return env


def _run(cmd, env):
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise InvalidInput(f"{cmd[0]} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return done


def _dump_database(target):
    db = _database()
    if _vendor() == "sqlite":
        source = sqlite3.connect(str(db["NAME"]))
        copy = sqlite3.connect(str(target))
        try:
            with copy:
                source.backup(copy)
        finally:
            copy.close()
            source.close()
        return "database.sqlite3"
    if _vendor() == "postgresql":
        if not shutil.which("pg_dump"):
            raise InvalidInput("pg_dump is not installed (apt install postgresql-client)")
        _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", "--file", str(target), db["NAME"]],
             _pg_env(db))
        return "database.pgdump"
    raise InvalidInput(f"backup supports SQLite and PostgreSQL, not {_vendor()}")


def _data_files(folder, skip_paths):
    """(path, name relative to folder) of the files worth keeping under the data folder."""
    database_files = set()
    if _vendor() == "sqlite":
        name = Path(_database()["NAME"]).resolve()
        database_files = {name, *(Path(str(name) + side) for side in SQLITE_SIDE_FILES)}
        test_name = (_database().get("TEST") or {}).get("NAME")
        if test_name:
            test_name = Path(test_name).resolve()
            database_files |= {test_name, *(Path(str(test_name) + side) for side in SQLITE_SIDE_FILES)}
    for root, dirs, files in os.walk(folder):
        root = Path(root)
        dirs[:] = [
            d for d in dirs
            if (root / d).relative_to(folder).as_posix() not in SKIPPED and (root / d).resolve() not in skip_paths
        ]
        for name in files:
            path = root / name
            if path.resolve() in database_files or path.resolve() in skip_paths or path.is_symlink():
                continue
            yield path, path.relative_to(folder).as_posix()


def applied_migrations():
    recorder = MigrationRecorder(connection)
    latest = {}
    for app, name in recorder.applied_migrations():
        latest[app] = max(latest.get(app, ""), name)
    return latest


def backup(*, output):
    """Write a backup archive to `output` (.tar, or .tar.gz / .tgz compressed); returns its manifest."""
    output = Path(output).resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    data_dir = Path(settings.DATA_DIR).resolve()
    images_dir = Path(settings.IMAGES_STORE_DIR).resolve()
    mode = "w:gz" if output.name.endswith((".tar.gz", ".tgz")) else "w"
    skip = {output}
    partial = output.with_name(output.name + ".partial")
    counts = {"data": 0, "images": 0}
    with tempfile.TemporaryDirectory(prefix="crucible-backup-") as scratch:
        dump = Path(scratch) / "database"
        database_member = _dump_database(dump)
        manifest = {
            "format": FORMAT,
            "created": timezone.now().isoformat(),
            "database": _vendor(),
            "database_member": database_member,
            "migrations": applied_migrations(),
            "data_dir": str(data_dir),
            "media_in_s3": bool(getattr(settings, "AWS_STORAGE_BUCKET_NAME", "")),
        }
        with tarfile.open(partial, mode) as archive:
            archive.add(dump, arcname=f"{ROOT}/{database_member}")
            for path, name in _data_files(data_dir, skip):
                archive.add(path, arcname=f"{ROOT}/data/{name}", recursive=False)
                counts["data"] += 1
            if images_dir.is_dir() and data_dir not in images_dir.parents:
                for path, name in _data_files(images_dir, {output}):
                    archive.add(path, arcname=f"{ROOT}/images/{name}", recursive=False)
                    counts["images"] += 1
            manifest["files"] = counts
            body = json.dumps(manifest, indent=2).encode()
            info = tarfile.TarInfo(f"{ROOT}/manifest.json")
            info.size, info.mtime = len(body), int(timezone.now().timestamp())
            archive.addfile(info, io.BytesIO(body))
    partial.replace(output)
    return manifest


def read_manifest(archive):
    try:
        member = archive.getmember(f"{ROOT}/manifest.json")
    except KeyError:
        raise InvalidInput("not a Crucible backup: crucible-backup/manifest.json is missing") from None
    manifest = json.load(archive.extractfile(member))
    if manifest.get("format") != FORMAT:
        raise InvalidInput(f"backup format {manifest.get('format')} is not supported (this Crucible reads {FORMAT})")
    return manifest


def database_is_empty():
    return not connection.introspection.table_names()


def _restore_database(archive, manifest, force):
    member = archive.getmember(f"{ROOT}/{manifest['database_member']}")
    if manifest["database"] != _vendor():
        raise InvalidInput(
            f"the backup holds a {manifest['database']} database and DATABASE_URL is {_vendor()}: "
            "restore it into the same kind of database"
        )
    if not database_is_empty() and not force:
        raise Conflict(
            "the database already has tables: restore into a new, empty database (a new SQLite file, or createdb), "
            "or pass --force to replace it"
        )
    db = _database()
    with tempfile.TemporaryDirectory(prefix="crucible-restore-") as scratch:
        dump = Path(scratch) / "database"
        with archive.extractfile(member) as source, open(dump, "wb") as target:
            shutil.copyfileobj(source, target, length=1024 * 1024)
        connections.close_all()
        if _vendor() == "sqlite":
            source = sqlite3.connect(str(dump))
            target = sqlite3.connect(str(db["NAME"]))
            try:
                with target:
                    source.backup(target)
            finally:
                target.close()
                source.close()
            return
        if not shutil.which("pg_restore"):
            raise InvalidInput("pg_restore is not installed (apt install postgresql-client)")
        # Extensions (pg_trgm) are the database administrator's: created beforehand, owned by
        # another role. Their CREATE ... IF NOT EXISTS is harmless, but COMMENT ON EXTENSION
        # (and, replacing a database, DROP EXTENSION) would fail for a role that does not own
        # them, so those entries are left out.
        env = _pg_env(db)
        listing = _run(["pg_restore", "--list", str(dump)], env).stdout
        unwanted = (" COMMENT - EXTENSION ", " EXTENSION - ") if force else (" COMMENT - EXTENSION ",)
        kept = [line for line in listing.splitlines() if not any(marker in line for marker in unwanted)]
        entries = Path(scratch) / "entries.list"
        entries.write_text("\n".join(kept) + "\n")
        cmd = ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--use-list", str(entries),
               "--dbname", db["NAME"]]
        if force:
            cmd += ["--clean", "--if-exists"]
        else:
            cmd += ["--single-transaction"]
        _run([*cmd, str(dump)], env)


def _extract(archive, prefix, folder):
    members = []
    for member in archive.getmembers():
        if member.name.startswith(prefix) and member.name != prefix.rstrip("/"):
            members.append(member.replace(name=member.name[len(prefix):], deep=False))
    folder.mkdir(parents=True, exist_ok=True)
    # The "data" filter refuses absolute paths, "..", links out of the folder and device files.
    archive.extractall(folder, members=members, filter="data")
    return len(members)


def restore(*, archive_path, force=False):
    """Restore a backup archive into this instance's (empty) database and data folder."""
    archive_path = Path(archive_path)
    if not archive_path.is_file():
        raise InvalidInput(f"{archive_path} does not exist")
    with tarfile.open(archive_path, "r:*") as archive:
        manifest = read_manifest(archive)
        _restore_database(archive, manifest, force)
        restored = {
            "data": _extract(archive, f"{ROOT}/data/", Path(settings.DATA_DIR)),
            "images": _extract(archive, f"{ROOT}/images/", Path(settings.IMAGES_STORE_DIR)),
        }
    return manifest, restored
