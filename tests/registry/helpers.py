from pathlib import Path

from django.core.files.base import ContentFile

from files.services import save_file


def put_folder(user, folder, dest):
    """Copy a local folder into the user's private space under `dest`."""
    folder = Path(folder)
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            relative = path.relative_to(folder).as_posix()
            save_file(owner=user, space="private", path=f"{dest}/{relative}", content=ContentFile(path.read_bytes(), name=path.name))
    return dest


def create_body(name="tiny", versions=None, hyper=None, **application):
    return {
        "application": {"name": name, "type": "LLM", "description": "", "developer": "", **application},
        "aiApplicationVersionList": versions if versions is not None else [{"version": "0.0.1", "source": "3", "savePath": "/Model"}],
        "hyperParameterList": hyper or [],
    }
