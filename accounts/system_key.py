"""The SGT system key, which guards POST /sgt/private/update_auth_token.

- `SGT_SYSTEM_KEY` set: that key, if it is strong enough (32+ characters, not a published
  one); a weak key turns the endpoint off (and `manage.py check` reports accounts.E001).
- Not set, development: a random key generated at first use and kept in
  `<CRUCIBLE_DATA_DIR>/sgt-system-key` (mode 0600); `bin/up` prints it
  (`manage.py sgt_system_key`), like the demo passwords.
- Not set, production: no key, the endpoint is off.
"""

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.core import checks

MIN_LENGTH = 32
# Keys that were ever published (README, docs): refused whatever their length.
PUBLISHED_KEYS = frozenset({"crucible-dev-system-key"})
KEY_FILE_NAME = "sgt-system-key"


def key_problem(key):
    """Why `key` may not be a system key, or None when it may."""
    if key in PUBLISHED_KEYS:
        return "SGT_SYSTEM_KEY is a published key (the old development default)"
    if len(key) < MIN_LENGTH:
        return f"SGT_SYSTEM_KEY is shorter than {MIN_LENGTH} characters"
    return None


def key_file():
    return Path(settings.DATA_DIR) / KEY_FILE_NAME


def development_key():
    """The development instance's generated key: read it, or create it (0600) at first use."""
    path = key_file()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(32) + "\n")
    return path.read_text().strip()


def system_key():
    """The key in force, or "" when the system call is off."""
    key = settings.SGT_SYSTEM_KEY
    if key:
        return "" if key_problem(key) else key
    if settings.PRODUCTION:
        return ""
    key = development_key()
    return "" if key_problem(key) else key


def off_reason():
    """Why the system call is off ("" when it is on)."""
    key = settings.SGT_SYSTEM_KEY
    if key and key_problem(key):
        return key_problem(key) + ": the system call is off"
    if not system_key():
        return "no SGT_SYSTEM_KEY is configured: the system call is off"
    return ""


@checks.register(checks.Tags.security)
def check_system_key(app_configs, **kwargs):
    key = settings.SGT_SYSTEM_KEY
    if key and key_problem(key):
        return [
            checks.Error(
                key_problem(key),
                hint=f"Set SGT_SYSTEM_KEY to a random string of {MIN_LENGTH}+ characters "
                "(python -c 'import secrets; print(secrets.token_urlsafe(32))'), or unset it.",
                id="accounts.E001",
            )
        ]
    return []
