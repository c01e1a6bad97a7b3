"""Settings for the test suite: the same as production wiring, in a data folder of its own."""

import os
import tempfile

os.environ.setdefault("CRUCIBLE_DATA_DIR", tempfile.mkdtemp(prefix="crucible-test-"))
os.environ.setdefault("JOB_HEARTBEAT_SECONDS", "1")
os.environ.setdefault("JOB_STALE_SECONDS", "5")
os.environ.setdefault("WORKER_HEARTBEAT_SECONDS", "1")
# Small enough that the sandbox tests can reach them: a 64 MiB file, 256 processes per box.
os.environ.setdefault("CODE_SANDBOX_MAX_FILE_BYTES", str(64 * 1024 * 1024))
os.environ.setdefault("CODE_SANDBOX_MAX_PROCESSES", "256")
os.environ.setdefault("SGT_SYSTEM_KEY", "test-sgt-system-key-0123456789abcdef")

from .settings import *  # noqa: E402,F401,F403

# Hashing speed only matters to tests; production keeps Django's default hashers.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# WhiteNoise warns on every request when STATIC_ROOT is missing; the tests never collect into it.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405
