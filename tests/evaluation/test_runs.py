"""Real evaluations through the API and a real worker: the child process scores the tiny GPT-2."""

import json

import pytest
import sacrebleu
from rouge_score import rouge_scorer

from evaluation import metrics as M
from evaluation.models import EvaluationTask, MetricValue
from evaluation.selectors import evaluations_for_version
from files.selectors import open_file
from hub import services as hub_services
from registry.models import AiApplicationVersion
from tests.worker import wait_until

from .conftest import DETAIL, create, jsonl, refreshed, upload_tree, wait_finished

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def hyper(name, value):
    return {"name": name, "value": str(value), "description": ""}


FAST = [hyper("learning_rate", "0.02"), hyper("max_steps", 24), hyper("save_steps", 100), hyper("logging_steps", 4),
        hyper("max_seq_length", 32), hyper("per_device_train_batch_size", 4)]


def task_of(response):
    assert response.status_code == 200, response.content
    return EvaluationTask.objects.get(uid=response.json()["data"]["id"])


def succeeded(task):
    wait_finished(task)
    assert task.status == "succeeded", task.log + task.error
    return task


def private_json(user, path):
    with open_file(user, "private", path) as handle:
        return json.loads(handle.read().decode())


def private_jsonl(user, path):
    with open_file(user, "private", path) as handle:
        return [json.loads(line) for line in handle.read().decode().splitlines() if line.strip()]


def test_lora_fine_tune_has_lower_perplexity_on_its_domain_than_its_base(
    eval_space, auth_client, client, celery_worker, stop_evaluations_after
):
    from training.services import create_finetune

    user = eval_space
    run = create_finetune(owner=user, name="domain-lora", base_folder="/Model", data_folder="/Domain", strategy="LoRA",
                          hyper={**{item["name"]: item["value"] for item in FAST}, "lora_r": 8})
    wait_until(lambda: refreshed(run).is_finished, timeout=300, message=f"training run {run.pk}")
    assert run.status == "succeeded", run.log + run.error
    version = AiApplicationVersion.objects.get(pk=run.produced_version_id)
    assert any(item["path"] == "adapter_config.json" for item in version.files)

    common = {"inputType": "local", "inputDir": "/Domain", "metrics": ["perplexity", "loss"]}
    base = task_of(create(auth_client, name="base", modelType="local", modelDir="/Model",
                          outputDir="/Evaluations/base", **common))
    tuned = task_of(create(auth_client, name="tuned", modelType="aiApp", aiAppVersionId=str(version.pk),
                           outputDir="/Evaluations/tuned", **common))
    # The adapter's base model is found through the training run that produced it.
    assert (tuned.base_source, tuned.base_ref, tuned.version_id) == ("files", "Model", version.pk)
    succeeded(base), succeeded(tuned)

    assert base.details["lm_texts"] == tuned.details["lm_texts"] == 6  # the same test split
    assert tuned.results["perplexity"] < base.results["perplexity"], (tuned.results, base.results)
    assert tuned.results["loss"] < base.results["loss"]
    assert base.progress == 1.0 and "LoRA adapter" in tuned.log
    assert {v.name: v.value for v in MetricValue.objects.filter(task=tuned)} == tuned.results
    written = private_json(user, "Evaluations/tuned/results.json")
    assert written["metrics"]["perplexity"] == pytest.approx(tuned.results["perplexity"])

    # The version's evaluations, its page, the spec detail and the comparison.
    assert list(evaluations_for_version(version)) == [tuned]
    detail = auth_client.get(f"{DETAIL}{tuned.uid}").json()["data"]
    assert detail["status"] == "Succeeded" and detail["runTime"].endswith("秒") and detail["aiAppVersionId"] == version.uid
    client.force_login(user)
    page = client.get(f"/evaluation/version/{version.pk}/").content.decode()
    assert "tuned" in page and 'data-testid="version-evaluations"' in page
    table = auth_client.get(f"/api/v1/evaluation/compare?tasks={base.pk}&versions={version.pk}").json()
    assert [c["name"] for c in table["columns"]] == ["base", "tuned"]
    perplexity = next(row for row in table["rows"] if row["metric"] == "perplexity")
    assert perplexity["best"] == tuned.results["perplexity"] and perplexity["higherIsBetter"] is False
    assert client.get(f"/evaluation/compare/?versions={version.pk}&tasks={base.pk}").status_code == 200


def test_label_and_generation_metrics_on_a_hub_dataset_match_the_libraries(
    eval_space, auth_client, celery_worker, stop_evaluations_after
):
    user = eval_space
    repo = hub_services.create_repository(owner=user, name="mixed-eval", type="dataset")
    rows = {
        "test/labels.jsonl": jsonl([
            {"input": "Sample A was annealed at", "label": "300"},
            {"input": "Sample B was annealed at", "label": "450", "choices": ["450", "500", "550"]},
            {"question": "What gas was used?", "answer": ["argon", "in argon"]},
        ]),
        "test/generation.jsonl": jsonl([
            {"input": "The river runs past the old mill and", "reference": "the children watch the water turn the wheel."},
            {"input": "Measure twice, cut once, and", "references": ["keep a record of every change you make.",
                                                                   "write down every change."]},
            {"instruction": "Continue the sentence.", "input": "The cat slept in the sun", "output": "while the dog kept watch."},
        ]),
        "train/ignored.jsonl": jsonl([{"text": "not part of the test split"}]),
    }
    from django.core.files.base import ContentFile

    hub_services.upload_files(repo=repo, user=user, uploads=[(path, ContentFile(text.encode(), name=path))
                                                             for path, text in rows.items()])
    task = task_of(create(auth_client, name="mixed", modelType="local", modelDir="/Model", inputType="dataset",
                          datasetName=f"{user.username}/mixed-eval", outputDir="/Evaluations/mixed", maxNewTokens=12,
                          metrics=["accuracy", "exact_match", "bleu", "chrf", "rouge"]))
    succeeded(task)
    assert task.dataset_name == f"{user.username}/mixed-eval" and task.details["records"] == 6
    assert task.details["labelled_records"] == 3 and task.details["generation_records"] == 3
    predictions = private_jsonl(user, "Evaluations/mixed/predictions.jsonl")
    labelled = [p for p in predictions if "choice" in p]
    generated = [p for p in predictions if "choice" not in p]
    assert len(labelled) == 3 and len(generated) == 3
    # Label choices come from the candidates; the QA row's answer is generated.
    assert labelled[0]["choice"] in ("300", "450") and labelled[1]["choice"] in ("450", "500", "550")
    accuracy = sum(M.exact_match(p["choice"], p["references"]) for p in labelled) / 3
    exact = sum(M.exact_match(p["prediction"], p["references"]) for p in labelled) / 3
    assert task.results["accuracy"] == pytest.approx(accuracy)
    assert task.results["exact_match"] == pytest.approx(exact)
    # The generation scores are the libraries' own on the generated texts.
    hypotheses = [p["prediction"] for p in generated]
    references = [p["references"] for p in generated]
    assert references[1] == ["keep a record of every change you make.", "write down every change."]
    assert generated[2]["prompt"].endswith("### Response:\n")
    streams = [[refs[0] for refs in references], [refs[1] if len(refs) > 1 else None for refs in references]]
    assert task.results["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hypotheses, streams).score)
    assert task.results["chrf"] == pytest.approx(sacrebleu.corpus_chrf(hypotheses, streams).score)
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    rouge_l = sum(scorer.score_multi(refs, hyp)["rougeL"].fmeasure for hyp, refs in zip(hypotheses, references)) / 3
    assert task.results["rougeL"] == pytest.approx(rouge_l)
    assert set(task.results) == {"accuracy", "exact_match", "bleu", "chrf", "rouge1", "rouge2", "rougeL"}


SCRIPT = """
import json, os, pathlib, sys
model = pathlib.Path(os.environ["model_dir"])
data = pathlib.Path(os.environ["input_dir"]) / "test"
records = [l for f in sorted(data.glob("*.jsonl")) for l in f.read_text().splitlines() if l.strip()]
out = pathlib.Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
metrics = {"records": len(records), "has_config": (model / "config.json").exists(),
           "scores": {"f1": 0.5, "note": "text is skipped"}, "threshold": float(os.environ["THRESHOLD"])}
(out / "metrics.json").write_text(json.dumps(metrics))
(out / "report.txt").write_text("custom report")
print("custom evaluation done")
"""


def test_custom_script_metrics_json_is_collected_and_a_missing_one_fails(
    eval_space, auth_client, celery_worker, stop_evaluations_after
):
    user = eval_space
    upload_tree(user, {"Scripts/evaluate.py": SCRIPT.encode()})
    task = task_of(create(auth_client, name="custom", image="python:3.11", workDir="/Scripts",
                          command="python evaluate.py ${output_dir}", modelType="local", modelDir="/Model",
                          inputType="local", inputDir="/Domain", env=[{"THRESHOLD": "0.25"}],
                          outputDir="/Evaluations/custom", resource={"cpuNumber": 1, "memory": 8}))
    bad = task_of(create(auth_client, name="no-metrics", command="echo nothing to see", outputDir="/Evaluations/bad"))
    succeeded(task)
    assert task.kind == "custom" and task.exit_code == 0
    assert task.results == {"records": 6.0, "scores.f1": 0.5, "threshold": 0.25}
    assert "custom evaluation done" in task.log
    assert private_json(user, "Evaluations/custom/metrics.json")["records"] == 6
    assert private_json(user, "Evaluations/custom/results.json")["metrics"]["scores.f1"] == 0.5
    assert "/Evaluations/custom/report.txt" in task.outputs
    wait_finished(bad)
    assert bad.status == "failed" and "metrics.json is missing" in bad.error
    detail = auth_client.get(f"{DETAIL}{bad.uid}").json()["data"]
    assert detail["status"] == "Failed" and "metrics.json" in detail["error"]


def test_custom_scripts_stop_on_cancel_and_past_their_wall_time(user, auth_client, celery_worker, stop_evaluations_after):
    slow = task_of(create(auth_client, name="slow", command="echo started; sleep 60", wallTimeSeconds=2,
                          outputDir="/Evaluations/slow"))
    stuck = task_of(create(auth_client, name="stuck", command="echo started; sleep 60", outputDir="/Evaluations/stuck"))
    wait_until(lambda: "started" in refreshed(stuck).log, timeout=120, message="the script to start")
    response = auth_client.post(f"/api/v1/evaluation/tasks/{stuck.pk}/cancel")
    assert response.status_code == 200, response.content
    wait_finished(stuck, timeout=60)
    assert stuck.status == "cancelled" and "stopped" in stuck.error
    wait_finished(slow, timeout=60)
    assert slow.status == "failed" and "wall time of 2 s" in slow.error
    assert auth_client.post(f"/api/v1/evaluation/tasks/{slow.pk}/cancel").status_code == 409
