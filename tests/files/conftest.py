import pytest


@pytest.fixture(autouse=True)
def _files_settings(settings, tmp_path):
    """Each test stores bytes in a media folder of its own, and counts quota use from the
    file spaces alone, whatever other apps report."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.STORAGE_USAGE_PROVIDERS = ["files.selectors.storage_usage"]
