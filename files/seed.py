"""Demo files: the researcher's private space in the training layout of platform-api.md
section 1 (Data/train|validate|test, Code, Config/<strategy>/config.json, Model, Image),
and a README in their public space. Only missing files are written (idempotent)."""

import json

from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile

from . import selectors, services
from .models import Space

DEMO_OWNER = "researcher"

SENTENCES = {
    "train": [
        "Annealing at 450 C for two hours relaxed the film stress.",
        "The furnace reached the set point after twelve minutes.",
        "Grain size grew with the annealing temperature.",
        "A slower ramp rate reduced cracking in the thick films.",
    ],
    "validate": ["Oxygen partial pressure changed the film colour."],
    "test": ["The sample was cooled in argon to avoid oxidation."],
}


def hyper(name, value, description):
    return {"description": description, "name": name, "value": value}


def strategy_config(strategy):
    common = [
        hyper("learning_rate", "1e-4", "学习率"),
        hyper("per_device_train_batch_size", "1", "训练批次"),
        hyper("num_train_epochs", "1", "训练轮数"),
        hyper("save_strategy", "steps", "checkPoint必选参数,保存策略"),
        hyper("save_steps", "200", "checkPoint必选参数,保存步数"),
    ]
    tuning = []
    if strategy == "LoRA":
        tuning = [
            hyper("lora_alpha", "16", "LoRA微调的缩放系数"),
            hyper("lora_r", "8", "LoRA微调的秩大小"),
            hyper("lora_dropout", "0.05", "LoRA微调的dropout系数"),
        ]
    return {"commonHyperParameters": common, "fineTuneHyperParameters": tuning, "fineTuneStrategy": strategy}


def demo_files():
    files = {}
    for split, lines in SENTENCES.items():
        files[f"Data/{split}/{split}.jsonl"] = "".join(json.dumps({"text": line}) + "\n" for line in lines)
    for strategy in ("LoRA", "FineTune"):
        files[f"Config/{strategy}/config.json"] = json.dumps(strategy_config(strategy), ensure_ascii=False, indent=2)
    files["Code/README.md"] = "Put fine-tuning code here; training runs it with the Config/<strategy>/config.json.\n"
    return files


def run(stdout):
    owner = get_user_model().objects.filter(username=DEMO_OWNER).first()
    if owner is None:
        stdout.write("Files: no demo researcher account; skipped.")
        return
    written = 0
    for path, text in demo_files().items():
        if selectors.get_node(owner, Space.PRIVATE, path) is None:
            services.save_file(owner=owner, space=Space.PRIVATE, path=path, content=ContentFile(text.encode("utf-8"), name="seed"))
            written += 1
    for folder in ("Model", "Image"):
        if selectors.get_node(owner, Space.PRIVATE, folder) is None:
            services.make_folder(actor=owner, owner=owner, space=Space.PRIVATE, path=folder)
    readme = "shared/README.md"
    if selectors.get_node(owner, Space.PUBLIC, readme) is None:
        text = "# Shared by the demo researcher\n\nEvery signed-in user can read this space.\n"
        services.save_file(owner=owner, space=Space.PUBLIC, path=readme, content=ContentFile(text.encode("utf-8"), name="seed"))
        written += 1
    stdout.write(f"Files: {written} demo files written for {DEMO_OWNER} (training layout under /Data, /Config, /Code).")
