"""Images demo data (idempotent): the demo researcher's `crucible/serve` image, tag 1.0,
imported from a small docker-save tarball built here with tarfile from real files."""

from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile

from core.jobs import JobHandle, claim, finish
from core.models import JobStatus
from files.services import save_file

from . import services
from .builders import build_docker_save, demo_files
from .models import Image, ImageImportJob, ImageStatus

DEMO_OWNER = "researcher"
IMAGE_NAME = "crucible/serve"
TARBALL = "Image/crucible-serve-1.0.tar"


def run(stdout):
    owner = get_user_model().objects.filter(username=DEMO_OWNER).first()
    if owner is None:
        stdout.write("images: no demo researcher; skipped\n")
        return
    image = Image.objects.filter(owner=owner, name=IMAGE_NAME).first()
    if image is not None and image.tags.filter(tag="1.0", status=ImageStatus.SUCCESS).exists():
        stdout.write("images: demo image present\n")
        return
    if image is None:
        image = services.create_image(
            owner=owner,
            name=IMAGE_NAME,
            labels=["serving", "demo"],
            overview="A tiny HTTP serving image",
            description="Built by images.seed with Python's tarfile: a shell entrypoint, a Python server and its config.",
        )
    data, _ = build_docker_save(demo_files(), repo_tag=f"{IMAGE_NAME}:1.0")
    save_file(owner=owner, space="private", path=TARBALL, content=ContentFile(data, name="crucible-serve-1.0.tar"))
    tag = services.start_import(owner=owner, image=image, file_url=TARBALL, tag="1.0")
    # Run the import here, in the seed's transaction, with the job body a worker runs (a
    # later delivery of the queued message finds the job finished and skips it).
    job = tag.import_job
    if claim(ImageImportJob, job.pk):
        try:
            services.run_import(job, JobHandle(ImageImportJob, job.pk))
        except Exception as exc:
            finish(ImageImportJob, job.pk, JobStatus.FAILED, f"{type(exc).__name__}: {exc}")
        else:
            finish(ImageImportJob, job.pk, JobStatus.SUCCEEDED)
    tag.refresh_from_db()
    stdout.write(f"images: {image.name}:1.0 {tag.get_status_display()} ({tag.size} bytes)\n")
