"""Demo training: one short LoRA run of the hub's tiny GPT-2 on the researcher's /Data
(written by files.seed), queued once; a worker on the training queue runs it."""

from django.contrib.auth import get_user_model

from core.errors import DomainError

from .models import LlmTask

DEMO_OWNER = "researcher"
DEMO_NAME = "demo-lora-tiny-gpt2"


def run(stdout):
    owner = get_user_model().objects.filter(username=DEMO_OWNER).first()
    if owner is None:
        stdout.write("Training: no demo researcher account; skipped.")
        return
    if LlmTask.objects.filter(owner=owner, name=DEMO_NAME).exists():
        stdout.write("Training: demo run already there.")
        return
    from . import services

    try:
        task = services.create_finetune(owner=owner, name=DEMO_NAME, base_model="crucible/tiny-gpt2",
                                        data_folder="Data", strategy="LoRA",
                                        hyper={"max_steps": "10", "save_steps": "5", "learning_rate": "0.01"})
    except DomainError as exc:
        stdout.write(f"Training: demo run not created ({exc.message}).")
        return
    stdout.write(f"Training: demo LoRA run #{task.pk} queued (see /training/).")
