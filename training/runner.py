"""The training child process: `python -m training.runner <config.json>`.

It knows nothing of Django. The worker (training.execution) prepares a work folder with
the base model, the data and a config.json, starts this module, streams its output to the
job log and reads the lines that start with METRIC_MARKER:

    @@crucible {"event": "metric", "step": 10, "loss": 3.2, ...}
    @@crucible {"event": "progress", "step": 10, "max_steps": 40}
    @@crucible {"event": "checkpoint", "step": 10, "path": "checkpoint-10"}
    @@crucible {"event": "plan", "logging_steps": 1, "eval_steps": 11, "reasons": {...}, ...}
    @@crucible {"event": "timing", "train_seconds": 9.1, "eval_seconds": 0.4, "eval_share": 0.044, ...}
    @@crucible {"event": "done", "final_dir": "...", "merged_dir": "..."}

config.json keys: model_dir, data_dir, output_dir (checkpoints), final_dir, merged_dir,
is_pretrain, strategy ("LoRA" | "FineTune"), merge (bool), hyper (name -> typed value),
eval_sample_blocks (the most validation blocks of an intermediate evaluation); training.schedule
chooses the cadences the hyper-parameters leave open.

`python -m training.runner --merge <base_dir> <adapter_dir> <out_dir>` merges a LoRA
adapter into its base model and saves the full model.
"""

import json
import os
import signal
import sys
import time
from pathlib import Path

from training import schedule

STARTED = time.monotonic()  # this module is imported before torch and transformers
METRIC_MARKER = "@@crucible "
# The worker reads events once a second and writes each progress event to the database:
# more frequent progress lines would only cost the worker (and the shared CPUs) writes.
PROGRESS_SECONDS = 1.0
TEXT_SUFFIXES = (".jsonl", ".json", ".txt")
# Target modules per architecture when the request names none (peft knows many more).
DEFAULT_TARGET_MODULES = {
    "gpt2": ["c_attn"],
    "llama": ["q_proj", "v_proj"],
    "mistral": ["q_proj", "v_proj"],
    "qwen2": ["q_proj", "v_proj"],
    "gpt_neox": ["query_key_value"],
    "bloom": ["query_key_value"],
    "opt": ["q_proj", "v_proj"],
}


def emit(event, **fields):
    print(METRIC_MARKER + json.dumps({"event": event, **fields}), flush=True)


def die_with_parent():
    """Exit when the worker that started us is gone (belt and braces to PR_SET_PDEATHSIG)."""
    parent = os.getppid()

    def check():
        if os.getppid() != parent:
            print("parent process gone; stopping", flush=True)
            os._exit(3)

    return check


# --- data -------------------------------------------------------------------------------


def record_text(record):
    """A training text from a JSON record: `text`, or an instruction/input/output triple."""
    if not isinstance(record, dict):
        return str(record) if isinstance(record, str) else ""
    if isinstance(record.get("text"), str):
        return record["text"]
    if "instruction" in record or "output" in record:
        parts = [f"### Instruction:\n{record.get('instruction', '')}".rstrip()]
        if record.get("input"):
            parts.append(f"### Input:\n{record['input']}")
        parts.append(f"### Response:\n{record.get('output', '')}")
        return "\n\n".join(parts)
    return ""


def read_texts(folder):
    """Texts of every .jsonl/.json/.txt file under a folder (sorted, recursive)."""
    texts = []
    folder = Path(folder)
    if not folder.is_dir():
        return texts
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES):
        raw = path.read_text(encoding="utf-8", errors="replace")
        suffix = path.suffix.lower()
        if suffix == ".txt":
            texts.extend(line.strip() for line in raw.splitlines() if line.strip())
        elif suffix == ".jsonl":
            for number, line in enumerate(raw.splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    texts.append(record_text(json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise SystemExit(f"{path.name} line {number}: not JSON ({exc.msg})") from None
        else:
            data = json.loads(raw)
            rows = data if isinstance(data, list) else data.get("data", []) if isinstance(data, dict) else []
            texts.extend(record_text(row) for row in rows)
    return [t for t in texts if t.strip()]


def token_blocks(texts, tokenizer, block_size):
    """Concatenate the texts (separated by EOS) and cut them into blocks of block_size tokens."""
    eos = tokenizer.eos_token or ""
    ids = []
    for text in texts:
        ids.extend(tokenizer(text + eos)["input_ids"])
    if len(ids) < 2:
        return []
    if len(ids) < block_size:
        block_size = len(ids)
    blocks = [ids[i : i + block_size] for i in range(0, len(ids) - block_size + 1, block_size)]
    return [{"input_ids": block, "attention_mask": [1] * len(block), "labels": list(block)} for block in blocks]


class BlockDataset:
    def __init__(self, rows):
        self.rows = rows

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, index):
        import torch

        return {key: torch.tensor(value) for key, value in self.rows[index].items()}


# --- model --------------------------------------------------------------------------------


def load_model(config, hyper):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    model_dir = config["model_dir"]
    if config.get("is_pretrain") and hyper.get("pretrain_init", "config") == "config":
        model_config = AutoConfig.from_pretrained(model_dir)
        torch.manual_seed(int(hyper.get("seed", 42)))
        print(f"pretraining a new {model_config.model_type} from its config (weights initialised at random)", flush=True)
        return AutoModelForCausalLM.from_config(model_config)
    print(f"loading weights from {Path(model_dir).name}", flush=True)
    return AutoModelForCausalLM.from_pretrained(model_dir)


def apply_lora(model, hyper):
    from peft import LoraConfig, TaskType, get_peft_model

    targets = hyper.get("lora_target_modules") or DEFAULT_TARGET_MODULES.get(model.config.model_type)
    lora = LoraConfig(
        task_type=TaskType.CAUSAL_LM,
        r=int(hyper.get("lora_r", 8)),
        lora_alpha=int(hyper.get("lora_alpha", 16)),
        lora_dropout=float(hyper.get("lora_dropout", 0.05)),
        target_modules=targets,
    )
    model = get_peft_model(model, lora)
    trainable, total = model.get_nb_trainable_parameters()
    print(f"LoRA r={lora.r} alpha={lora.lora_alpha} targets={sorted(lora.target_modules)}: "
          f"{trainable} of {total} parameters trainable", flush=True)
    return model


# --- training -----------------------------------------------------------------------------


def training_arguments(config, hyper, chosen):
    """TrainingArguments from the typed hyper-parameters and the cadences chosen by training.schedule."""
    import torch
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=config["output_dir"],
        learning_rate=float(hyper.get("learning_rate", 1e-4)),
        per_device_train_batch_size=int(hyper.get("per_device_train_batch_size", 1)),
        per_device_eval_batch_size=chosen["per_device_eval_batch_size"],
        num_train_epochs=float(hyper.get("num_train_epochs", 1)),
        max_steps=int(hyper.get("max_steps", -1)),
        gradient_accumulation_steps=int(hyper.get("gradient_accumulation_steps", 1)),
        warmup_steps=int(hyper.get("warmup_steps", 0)),
        weight_decay=float(hyper.get("weight_decay", 0.0)),
        lr_scheduler_type=hyper.get("lr_scheduler_type", "linear"),
        save_strategy=chosen["save_strategy"],
        save_steps=chosen["save_steps"],
        save_total_limit=int(hyper["save_total_limit"]) if hyper.get("save_total_limit") else None,
        eval_strategy=chosen["eval_strategy"],
        eval_steps=chosen["eval_steps"],
        logging_strategy="steps",
        logging_steps=chosen["logging_steps"],
        seed=int(hyper.get("seed", 42)),
        report_to=[],
        disable_tqdm=True,
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
    )


def timed_trainer(eval_sample_count):
    """A Trainer that times its evaluations (the page's "evaluation share") and tells the metric lines
    how many validation blocks each eval_loss was computed on."""
    from transformers import Trainer

    class TimedTrainer(Trainer):
        eval_seconds = 0.0
        evaluations = 0
        eval_blocks = eval_sample_count

        def evaluate(self, eval_dataset=None, *args, **kwargs):
            started = time.monotonic()
            self.eval_blocks = len(eval_dataset) if eval_dataset is not None else eval_sample_count
            try:
                return super().evaluate(eval_dataset, *args, **kwargs)
            finally:
                self.eval_seconds += time.monotonic() - started
                self.evaluations += 1

    return TimedTrainer


def metrics_callback(tokens_per_step, parent_check, trainer_ref):
    from transformers import TrainerCallback

    class MetricLines(TrainerCallback):
        """Prints one metric line per logging step, progress lines and checkpoint lines."""

        def __init__(self):
            self.started = time.monotonic()
            self.last_time = self.started
            self.last_step = 0
            self.last_progress = 0.0

        def on_train_begin(self, args, state, control, **kwargs):
            self.last_step = state.global_step
            emit("progress", step=state.global_step, max_steps=state.max_steps)

        def on_step_end(self, args, state, control, **kwargs):
            parent_check()
            if state.global_step >= state.max_steps:
                # The Trainer evaluates the sample at the last step; the whole split follows at once.
                control.should_evaluate = False
            now = time.monotonic()
            if now - self.last_progress >= PROGRESS_SECONDS or state.global_step == state.max_steps:
                self.last_progress = now
                emit("progress", step=state.global_step, max_steps=state.max_steps)

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = logs or {}
            now = time.monotonic()
            steps = state.global_step - self.last_step
            elapsed = now - self.last_time
            row = {"step": state.global_step, "epoch": state.epoch, "time": round(now - self.started, 3)}
            for key in ("loss", "eval_loss", "learning_rate", "grad_norm"):
                if key in logs:
                    row[key] = float(logs[key])
            if "eval_loss" in logs and trainer_ref:
                row["eval_blocks"] = trainer_ref[0].eval_blocks
            if "loss" in logs and steps > 0 and elapsed > 0:
                row["tokens_per_second"] = round(steps * tokens_per_step / elapsed, 1)
                self.last_step, self.last_time = state.global_step, now
            if "loss" in row or "eval_loss" in row:
                emit("metric", **row)

        def on_epoch_end(self, args, state, control, **kwargs):
            if state.global_step >= state.max_steps:
                control.should_evaluate = False

        def on_save(self, args, state, control, **kwargs):
            emit("checkpoint", step=state.global_step, path=f"checkpoint-{state.global_step}")

    return MetricLines()


def train(config):
    from transformers import AutoTokenizer, default_data_collator
    from transformers.trainer_utils import get_last_checkpoint

    parent_check = die_with_parent()
    hyper = config.get("hyper", {})
    strategy = config.get("strategy", "LoRA")
    tokenizer = AutoTokenizer.from_pretrained(config["model_dir"])
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = load_model(config, hyper)
    max_positions = getattr(model.config, "n_positions", None) or getattr(model.config, "max_position_embeddings", 1024)
    block_size = min(int(hyper.get("max_seq_length", 128)), int(max_positions))

    data_dir = Path(config["data_dir"])
    train_rows = token_blocks(read_texts(data_dir / "train"), tokenizer, block_size)
    if not train_rows:
        raise SystemExit("no training text found under train/ (.jsonl with text or instruction/output, .json, .txt)")
    eval_rows = token_blocks(read_texts(data_dir / "validate"), tokenizer, block_size)
    print(f"data: {len(train_rows)} training blocks and {len(eval_rows)} validation blocks of "
          f"up to {block_size} tokens", flush=True)

    if strategy == "LoRA" and not config.get("is_pretrain"):
        model = apply_lora(model, hyper)
    steps = schedule.total_steps(
        train_blocks=len(train_rows), batch_size=int(hyper.get("per_device_train_batch_size", 1)),
        accumulation=int(hyper.get("gradient_accumulation_steps", 1)),
        epochs=float(hyper.get("num_train_epochs", 1)), max_steps=int(hyper.get("max_steps", -1)),
    )
    chosen = schedule.plan(steps=steps, hyper=hyper, eval_blocks=len(eval_rows),
                           eval_sample_blocks=int(config.get("eval_sample_blocks", schedule.DEFAULT_EVAL_SAMPLE_BLOCKS)))
    emit("plan", **chosen)
    print("cadences: " + "; ".join(f"{name} {chosen.get(name)} ({why})" for name, why in chosen["reasons"].items()),
          flush=True)
    sample_rows = [eval_rows[i] for i in schedule.sample_indices(len(eval_rows), chosen["eval_sample"])]
    args = training_arguments(config, hyper, chosen)
    tokens_per_step = block_size * args.per_device_train_batch_size * args.gradient_accumulation_steps
    trainer_ref = []
    trainer = timed_trainer(len(sample_rows))(
        model=model,
        args=args,
        train_dataset=BlockDataset(train_rows),
        eval_dataset=BlockDataset(sample_rows) if eval_rows else None,
        data_collator=default_data_collator,
        callbacks=[metrics_callback(tokens_per_step, parent_check, trainer_ref)],
    )
    trainer_ref.append(trainer)
    last = get_last_checkpoint(config["output_dir"]) if Path(config["output_dir"]).is_dir() else None
    if last:
        print(f"resuming from {Path(last).name}", flush=True)
    loop_started = time.monotonic()
    trainer.train(resume_from_checkpoint=last)
    loop_seconds = time.monotonic() - loop_started
    timing = {"train_seconds": round(loop_seconds, 3), "eval_seconds": round(trainer.eval_seconds, 3),
              "evaluations": trainer.evaluations}
    if eval_rows:
        # The whole validation split once, at the end (its eval_loss reaches the metric lines through on_log).
        started = time.monotonic()
        trainer.evaluate(BlockDataset(eval_rows))
        timing["final_eval_seconds"] = round(time.monotonic() - started, 3)
    if loop_seconds > 0:
        # Evaluation during the training loop as a share of the loop's time (the page shows it).
        timing["eval_share"] = round(timing["eval_seconds"] / loop_seconds, 4)
    emit("timing", **timing)

    final_dir = Path(config["final_dir"])
    final_dir.mkdir(parents=True, exist_ok=True)
    trainer.model.save_pretrained(final_dir, safe_serialization=True)
    tokenizer.save_pretrained(final_dir)
    print(f"saved the {'LoRA adapter' if strategy == 'LoRA' and not config.get('is_pretrain') else 'model'} "
          f"to {final_dir.name}/", flush=True)
    done = {"final_dir": str(final_dir), "steps": trainer.state.global_step}
    if strategy == "LoRA" and not config.get("is_pretrain") and config.get("merge"):
        merged = trainer.model.merge_and_unload()
        merged_dir = Path(config["merged_dir"])
        merged.save_pretrained(merged_dir, safe_serialization=True)
        tokenizer.save_pretrained(merged_dir)
        print(f"merged the adapter into a full model in {merged_dir.name}/", flush=True)
        done["merged_dir"] = str(merged_dir)
    # Wall time of this process (imports, loading, data, training, saving), for the log and bench/.
    emit("done", **done, seconds=round(time.monotonic() - STARTED, 3))


def merge(base_dir, adapter_dir, out_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(base_dir)
    merged = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(out_dir, safe_serialization=True)
    AutoTokenizer.from_pretrained(adapter_dir if (Path(adapter_dir) / "tokenizer_config.json").exists() else base_dir).save_pretrained(out_dir)
    print(f"merged {Path(adapter_dir).name} into {Path(base_dir).name}", flush=True)
    emit("done", merged_dir=str(out_dir))


def main(argv):
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if len(argv) == 4 and argv[0] == "--merge":
        merge(*argv[1:])
        return 0
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    config = json.loads(Path(argv[0]).read_text())
    train(config)
    return 0


def exit_now(code):
    """Leave without the interpreter's teardown: with torch and transformers loaded, freeing every
    module and object takes about a second after the work is done. Everything the run produced is
    already saved and closed; only the standard streams are left to flush."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    # Errors (SystemExit with a message, tracebacks) take the ordinary way out.
    exit_now(main(sys.argv[1:]))
