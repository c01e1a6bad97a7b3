"""Evaluation demo data (idempotent): small test splits in the demo researcher's space for each
built-in metric family, a custom evaluation script, and one built-in evaluation of the
registry's tiny GPT-2 (queued; a worker runs it)."""

import json

from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile

DEMO_OWNER = "researcher"
DEMO_TASK = "demo tiny-gpt2 perplexity"


def jsonl(rows):
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


SCRIPT = '''"""A custom evaluation: counts the test records and writes $output_dir/metrics.json."""
import json
import os
from pathlib import Path

data = Path(os.environ["input_dir"]) / "test"
records = [line for path in sorted(data.glob("*.jsonl")) for line in path.read_text().splitlines() if line.strip()]
words = sum(len(json.loads(line).get("text", "").split()) for line in records)
out = Path(os.environ["output_dir"])
out.mkdir(parents=True, exist_ok=True)
(out / "metrics.json").write_text(json.dumps({"records": len(records), "mean_words": words / max(1, len(records))}))
print("wrote", out / "metrics.json")
'''

DEMO_FILES = {
    "Evaluation/classification/test/sentiment.jsonl": jsonl([
        {"input": "Review: the furnace worked perfectly. Sentiment:", "label": "positive"},
        {"input": "Review: the film cracked again. Sentiment:", "label": "negative"},
        {"input": "Review: a clean, even coating. Sentiment:", "label": "positive"},
    ]),
    "Evaluation/qa/test/qa.jsonl": jsonl([
        {"question": "What turns the wheel of the old mill?", "answer": ["water", "the water"]},
        {"context": "The cat slept in the sun.", "question": "Where did the cat sleep?", "answer": "in the sun"},
    ]),
    "Evaluation/generation/test/continuations.jsonl": jsonl([
        {"input": "The river runs past the old mill and", "reference": "the children watch the water turn the wheel."},
        {"input": "Measure twice, cut once, and", "reference": "keep a record of every change you make."},
    ]),
    "Evaluation/script/evaluate.py": SCRIPT,
}


def run(stdout):
    from files import selectors as files
    from files import services as file_services

    from .models import EvaluationTask
    from .services import create_evaluation

    owner = get_user_model().objects.filter(username=DEMO_OWNER).first()
    if owner is None:
        stdout.write("evaluation: no demo researcher; skipped\n")
        return
    written = 0
    for path, text in DEMO_FILES.items():
        if files.get_node(owner, "private", path) is None:
            file_services.save_file(owner=owner, space="private", path=path, content=ContentFile(text.encode("utf-8"), name="seed"))
            written += 1
    queued = 0
    if not EvaluationTask.objects.filter(owner=owner, name=DEMO_TASK).exists():
        from registry.models import AiApplicationVersion, VersionStatus

        version = (AiApplicationVersion.objects.filter(application__owner=owner, application__name="tiny-gpt2",
                                                       status=VersionStatus.IMPORTED).order_by("-number").first())
        if version is not None and files.get_node(owner, "private", "Data/test") is not None:
            create_evaluation(owner=owner, name=DEMO_TASK, version=version.uid, data_dir="Data",
                              metrics=["perplexity", "loss"], output_dir="Evaluation/results/demo")
            queued = 1
    stdout.write(f"evaluation: {written} demo files written, {queued} demo evaluation queued\n")
