"""What a user can read must never name a path of the server (its data folder), whichever page,
tag, file or API answer it comes from."""

from pathlib import Path

from django.conf import settings


def server_paths():
    data = Path(settings.DATA_DIR)
    return {str(data), str(data.resolve())}


def assert_no_server_path(texts):
    """texts: {where: text}. Fails naming every place that shows a server path."""
    paths = server_paths()
    leaks = {}
    for where, text in texts.items():
        for path in paths:
            at = text.find(path)
            if at >= 0:
                leaks[where] = text[max(0, at - 120): at + 120]
    assert not leaks, f"a server path ({sorted(paths)[0]}) is shown: {leaks}"
