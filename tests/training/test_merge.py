"""A merged LoRA model computes what the adapter on its base computes (PEFT's own merge test)."""

import subprocess
import sys

import torch
from peft import LoraConfig, PeftModel, TaskType, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

from tests.training.test_runner import ROOT
from training.runner import DEFAULT_TARGET_MODULES


def test_the_merged_model_gives_the_adapters_logits(tmp_path, tiny_model_dir):
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    # Random A and B (peft initialises B to zero, which would make any merge look right).
    lora = LoraConfig(task_type=TaskType.CAUSAL_LM, r=4, lora_alpha=16, lora_dropout=0.05,
                      target_modules=DEFAULT_TARGET_MODULES["gpt2"] + ["c_fc"], init_lora_weights=False)
    get_peft_model(base, lora).save_pretrained(tmp_path / "adapter")

    done = subprocess.run(
        [sys.executable, "-m", "training.runner", "--merge", str(tiny_model_dir), str(tmp_path / "adapter"), str(tmp_path / "merged")],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "merged")
    inputs = tokenizer(["the quick brown fox jumps", "over the lazy dog and the cat"], return_tensors="pt", padding=True)
    adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), tmp_path / "adapter").eval()
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged").eval()
    plain = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    with torch.no_grad():
        want = adapted(**inputs).logits
        got = merged(**inputs).logits
        before = plain(**inputs).logits

    assert not any("lora" in name for name, _ in merged.named_parameters())
    assert (want - before).abs().max() > 1e-3  # the adapter does change the logits
    assert torch.allclose(got, want, atol=1e-4, rtol=0), (got - want).abs().max()
