"""Serving demo data (idempotent): the demo researcher's registry versions of the tiny GPT-2
and all-MiniLM-L6-v2 deployed as services `tiny-gpt2` and `minilm`, one replica each.
The deploy jobs go to the `serving` queue; a worker starts the replicas. The chat model
`tiny-gpt2` is shared with everyone, so that every user (a new one too) can chat with it."""

from django.contrib.auth import get_user_model

from registry.models import AiApplicationVersion, VersionStatus

from . import services
from .models import ModelService, Sharing

DEMO_OWNER = "researcher"
# (registry application of the registry seed, service name, sharing)
DEMO_SERVICES = [("tiny-gpt2", "tiny-gpt2", Sharing.EVERYONE), ("all-MiniLM-L6-v2", "minilm", Sharing.PRIVATE)]
SHARED_CHAT_SERVICE = "tiny-gpt2"


def run(stdout):
    owner = get_user_model().objects.filter(username=DEMO_OWNER).first()
    if owner is None:
        stdout.write("serving: no demo researcher; skipped\n")
        return
    created = 0
    for application, name, sharing in DEMO_SERVICES:
        existing = ModelService.objects.filter(owner=owner, name=name).first()
        if existing is not None:
            if sharing != Sharing.PRIVATE and existing.sharing != sharing:  # an older seed's private service
                services.set_sharing(actor=owner, service=existing, sharing=sharing)
            continue
        version = (
            AiApplicationVersion.objects.filter(application__owner=owner, application__name=application,
                                                status=VersionStatus.IMPORTED)
            .order_by("-number")
            .first()
        )
        if version is None:
            stdout.write(f"serving: no imported registry version of {application}; skipped\n")
            continue
        services.create_service(owner=owner, name=name, description=f"Demo: {application} from the model registry",
                                versions=[services.VersionSpec(registry_version=version)], deploy=True,
                                sharing=sharing)
        created += 1
    total = ModelService.objects.filter(owner=owner).count()
    stdout.write(f"serving: {total} demo services ({created} new, deploying through the serving worker); "
                 f"{DEMO_OWNER}/{SHARED_CHAT_SERVICE} is shared with everyone for chat\n")
