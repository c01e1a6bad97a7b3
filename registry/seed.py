"""Registry demo data (idempotent): the demo researcher's applications for the real demo
models of the hub seed (tiny GPT-2, all-MiniLM-L6-v2), each with one imported version."""

from django.contrib.auth import get_user_model

from hub.models import Repository, RepoType

from . import services
from .models import AiApplication

DEMO_OWNER = "researcher"
DEMO_MODELS = [
    ("crucible/tiny-gpt2", "tiny-gpt2", "LLM", "Crucible", "A 2-layer GPT-2 trained on the built-in corpus."),
    ("sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2", "Embedding", "sentence-transformers",
     "Sentence embeddings (384 dimensions)."),
]


def run(stdout):
    owner = get_user_model().objects.filter(username=DEMO_OWNER).first()
    if owner is None:
        stdout.write("registry: no demo researcher; skipped\n")
        return
    created = 0
    for full_name, name, kind, developer, description in DEMO_MODELS:
        if AiApplication.objects.filter(owner=owner, name=name).exists():
            continue
        source = Repository.objects.filter(type=RepoType.MODEL, full_name=full_name).select_related("head").first()
        if source is None or source.head is None:
            stdout.write(f"registry: {full_name} is not in the hub; skipped\n")
            continue
        version = services.register_hub_snapshot(
            owner=owner, application_name=name, source_repo=source, type=kind, developer=developer
        )
        AiApplication.objects.filter(pk=version.application_id).update(description=description)
        created += 1
    stdout.write(f"registry: {AiApplication.objects.filter(owner=owner).count()} applications ({created} new)\n")
