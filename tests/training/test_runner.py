"""The training child process on its own: events, saved files and a clean, quick exit."""

import json
import os
import subprocess
import sys
from pathlib import Path

from hub.tiny_models import corpus_lines
from training.runner import METRIC_MARKER

ROOT = Path(__file__).resolve().parents[2]


def run_runner(config_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "training.runner", str(config_path)], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)


def events(stdout):
    return [json.loads(line[len(METRIC_MARKER):]) for line in stdout.splitlines() if line.startswith(METRIC_MARKER)]


def test_lora_run_saves_a_loadable_adapter_and_reports_its_time(tmp_path, tiny_model_dir):
    (tmp_path / "data" / "train").mkdir(parents=True)
    (tmp_path / "data" / "train" / "t.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in corpus_lines()))
    config = {"model_dir": str(tiny_model_dir), "data_dir": str(tmp_path / "data"), "output_dir": str(tmp_path / "ckpt"),
              "final_dir": str(tmp_path / "final"), "merged_dir": str(tmp_path / "merged"), "strategy": "LoRA",
              "hyper": {"max_steps": 4, "save_steps": 2, "logging_steps": 1, "per_device_train_batch_size": 2,
                        "max_seq_length": 32, "learning_rate": 0.01}}
    (tmp_path / "config.json").write_text(json.dumps(config))

    done = run_runner(tmp_path / "config.json")

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    seen = events(done.stdout)
    assert [e["step"] for e in seen if e["event"] == "metric"] == [1, 2, 3, 4]
    assert [e["path"] for e in seen if e["event"] == "checkpoint"] == ["checkpoint-2", "checkpoint-4"]
    progress = [e for e in seen if e["event"] == "progress"]
    assert progress[-1] == {"event": "progress", "step": 4, "max_steps": 4}
    last = seen[-1]
    assert last["event"] == "done" and last["steps"] == 4 and 0 < last["seconds"] < 300
    # Leaving with os._exit lost nothing: the adapter and the checkpoints are complete.
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), tmp_path / "final")
    assert any("lora_A" in name for name, _ in model.named_parameters())
    assert (tmp_path / "final" / "tokenizer_config.json").exists()
    assert (tmp_path / "ckpt" / "checkpoint-4" / "trainer_state.json").exists()


def test_a_run_without_data_fails_with_its_message(tmp_path, tiny_model_dir):
    (tmp_path / "data" / "train").mkdir(parents=True)
    config = {"model_dir": str(tiny_model_dir), "data_dir": str(tmp_path / "data"), "output_dir": str(tmp_path / "ckpt"),
              "final_dir": str(tmp_path / "final"), "strategy": "LoRA", "hyper": {"max_steps": 1}}
    (tmp_path / "config.json").write_text(json.dumps(config))

    done = run_runner(tmp_path / "config.json")

    assert done.returncode == 1
    assert "no training text found under train/" in done.stderr
    assert not (tmp_path / "final").exists()
