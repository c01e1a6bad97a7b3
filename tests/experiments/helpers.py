"""Experiment data made directly in the database, for tests about who may see it."""

from django.core.files.base import ContentFile

from experiments.models import Experiment, ExperimentRun, Furnace

VIDEO_BYTES = b"\x00\x00\x00\x18ftypmp42 a run's video"


def finished_run(owner, code="SECRET-RUN", video=VIDEO_BYTES):
    """A succeeded run of `owner` with a stored video (the way a finished run leaves it)."""
    furnace, _ = Furnace.objects.get_or_create(name="helper-furnace")
    experiment = Experiment.objects.create(
        experiment_id=code, owner=owner, furnace=furnace, substrate="SiO2/Si", temperature_a={},
        temperature_b={}, ar_flow={}, h2_flow={}, duration_s=60,
    )
    run = ExperimentRun.objects.create(owner=owner, experiment=experiment, furnace=furnace, program={}, status="succeeded")
    run.video.save("run.mp4", ContentFile(video), save=True)
    return run
