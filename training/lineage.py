"""A training result as it leaves the worker's work folder: named by where it came from, with no
server path in it.

PEFT and transformers write the paths they were given into what they save: an adapter's
`adapter_config.json` names its base model by the folder it was loaded from
(`<data>/training/llm/<id>/base_model`), PEFT's model card repeats it (`base_model:` and the tag
`base_model:adapter:<path>`, which would become a hub tag every user sees), `trainer_state.json`
names checkpoint folders, and `training_args.bin` is a pickle of the run's arguments, paths
included. `publish(folder, ...)` rewrites the base model's folder as its public name (a hub
repository `owner/name`, which serving and `from_pretrained` resolve), the rest of the work
folder and the data folder as relative paths, and drops `training_args.bin`.
"""

from pathlib import Path

from django.conf import settings

from registry.selectors import resolve_version

from .models import ModelSource

TEXT_SUFFIXES = {".json", ".md", ".txt", ".yaml", ".yml", ".jinja"}
MAX_TEXT_BYTES = 16 * 1024 * 1024
DROPPED = {"training_args.bin"}


def base_model_name(task):
    """The public name of a task's base model: the hub repository it was taken from (a registry
    version's application is a hub repository too), or the owner's folder path for a folder of files."""
    if task.model_source == ModelSource.REGISTRY:
        return resolve_version(task.owner, task.model_ref).application.repository.full_name
    if task.model_source == ModelSource.FILES:
        return "/" + task.model_ref.strip("/")
    return task.model_ref


def publish(folder, *, work_root, base_name):
    """Rewrite `folder` (a result inside `work_root`) in place; returns the files changed."""
    folder, work_root = Path(folder), Path(work_root)
    replacements = [
        (str(work_root / "base_model"), base_name),
        (str(work_root.resolve() / "base_model"), base_name),
        (str(work_root), "."),
        (str(work_root.resolve()), "."),
        (str(Path(settings.DATA_DIR)), "."),
        (str(Path(settings.DATA_DIR).resolve()), "."),
    ]
    changed = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.name in DROPPED:
            path.unlink()
            changed.append(path.relative_to(folder).as_posix())
            continue
        if path.suffix not in TEXT_SUFFIXES or path.stat().st_size > MAX_TEXT_BYTES:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        new = text
        for old, replacement in replacements:
            new = new.replace(old, replacement)
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path.relative_to(folder).as_posix())
    return changed


def leaks(folder):
    """Files under `folder` that still name the data folder (for tests and the registry's check)."""
    data = {str(Path(settings.DATA_DIR)), str(Path(settings.DATA_DIR).resolve())}
    found = []
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        raw = path.read_bytes()
        if any(d.encode() in raw for d in data):
            found.append(path.relative_to(folder).as_posix())
    return found
