"""Names and ids checked by a regular expression refuse a trailing newline: Python's `$` matches
before one, so every such pattern ends with `\\Z`."""

import re
from pathlib import Path

import pytest

from accounts.services import USERNAME_RE
from chat.services import CHAT_ID_RE
from hub.services import REPO_NAME_RE
from images.services import TAG_RE

ROOT = Path(__file__).resolve().parents[2]
APPS = ["accounts", "chat", "core", "evaluation", "experiments", "files", "hub", "images", "registry", "serving",
        "sgt", "training"]


@pytest.mark.parametrize("pattern, value", [
    (USERNAME_RE, "alice"), (CHAT_ID_RE, "chat-1"), (REPO_NAME_RE, "tiny-gpt2"), (TAG_RE, "v1"),
])
def test_a_trailing_newline_is_not_part_of_a_valid_name(pattern, value):
    assert pattern.match(value)
    assert not pattern.match(value + "\n")


def test_no_anchored_pattern_in_the_apps_ends_with_a_dollar():
    offenders = []
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if re.search(r're\.(compile|match)\(r"\^[^"]*\$"', line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}")
    assert offenders == []
