"""Serving demo data (idempotent): the demo researcher's registry versions of the tiny GPT-2
and all-MiniLM-L6-v2 deployed as services `tiny-gpt2` and `minilm`, one replica each.
The deploy jobs go to the `serving` queue; a worker starts the replicas."""

from django.contrib.auth import get_user_model

from registry.models import AiApplicationVersion, VersionStatus

from . import services
from .models import ModelService

DEMO_OWNER = "researcher"
# (registry application of the registry seed, service name)
DEMO_SERVICES = [("tiny-gpt2", "tiny-gpt2"), ("all-MiniLM-L6-v2", "minilm")]


def run(stdout):
    owner = get_user_model().objects.filter(username=DEMO_OWNER).first()
    if owner is None:
        stdout.write("serving: no demo researcher; skipped\n")
        return
    created = 0
    for application, name in DEMO_SERVICES:
        if ModelService.objects.filter(owner=owner, name=name).exists():
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
        services.create_service(
            actor=owner,
            model_server={"name": name, "description": f"Demo: {application} from the model registry"},
            versions=[{"aiApplicationVersionId": version.uid, "rate": 100, "predictMinReplicas": 1,
                       "predictMaxReplicas": 1, "metric": 1, "monitorThreshold": "100"}],
            deploy=True,
        )
        created += 1
    total = ModelService.objects.filter(owner=owner).count()
    stdout.write(f"serving: {total} demo services ({created} new, deploying through the serving worker)\n")
