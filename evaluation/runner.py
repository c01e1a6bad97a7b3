"""The built-in evaluation child process: `python -m evaluation.runner <config.json>`.

It knows nothing of Django. The worker (evaluation.execution) prepares a scratch folder
with the model (model/, and base_model/ when model/ is a LoRA adapter), the dataset split
(data/) and a config.json, starts this module, and reads the lines that start with
METRIC_MARKER:

    @@crucible {"event": "progress", "fraction": 0.4, "stage": "generation"}
    @@crucible {"event": "done", "results": {...}, "details": {...}}

config.json keys: model_dir, base_model_dir ("" unless model_dir is an adapter), data_dir,
output_dir, metrics (canonical names), max_samples, max_new_tokens, max_length,
batch_size, threads. It writes output_dir/results.json and output_dir/predictions.jsonl.
"""

import json
import math
import os
import signal
import sys
import time
from pathlib import Path

from evaluation import metrics as M

METRIC_MARKER = "@@crucible "
DATA_SUFFIXES = (".jsonl", ".json", ".txt")
LABEL_FIELDS = ("label", "answer")
GENERATION_FIELDS = ("reference", "references", "output", "target")
TARGET_FIELDS = LABEL_FIELDS + GENERATION_FIELDS


def emit(event, **fields):
    print(METRIC_MARKER + json.dumps({"event": event, **fields}), flush=True)


class DataError(Exception):
    pass


# --- records ---------------------------------------------------------------------------------


def read_records(folder, limit):
    """Records of every .jsonl/.json/.txt file under `folder` (sorted, recursive), at most `limit`."""
    records = []
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.suffix.lower() in DATA_SUFFIXES):
        raw = path.read_text(encoding="utf-8", errors="replace")
        if path.suffix.lower() == ".txt":
            records.extend({"text": line.strip()} for line in raw.splitlines() if line.strip())
        elif path.suffix.lower() == ".jsonl":
            for number, line in enumerate(raw.splitlines(), 1):
                if line.strip():
                    try:
                        records.append(json.loads(line))
                    except json.JSONDecodeError as exc:
                        raise DataError(f"{path.name} line {number}: not JSON ({exc.msg})") from None
        else:
            try:
                data = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path.name}: not JSON ({exc.msg})") from None
            rows = data if isinstance(data, list) else data.get("data", []) if isinstance(data, dict) else []
            records.extend(rows)
        if len(records) >= limit:
            break
    return [r if isinstance(r, dict) else {"text": str(r)} for r in records[:limit]]


def prompt_of(record):
    """The text the model continues: QA, instruction or plain input formats (docs/evaluation.md)."""
    if "question" in record:
        context = str(record.get("context") or "").strip()
        return (f"{context}\n" if context else "") + f"Question: {record['question']}\nAnswer:"
    if "instruction" in record:
        parts = [f"### Instruction:\n{record['instruction']}".rstrip()]
        if record.get("input"):
            parts.append(f"### Input:\n{record['input']}")
        return "\n\n".join(parts) + "\n\n### Response:\n"
    for field in ("input", "prompt", "source"):
        if field in record:
            return str(record[field])
    return None


def targets_of(record, fields=TARGET_FIELDS):
    """The reference(s) of a record as a list of strings ([] when it has none)."""
    for field in fields:
        value = record.get(field)
        if value is None:
            continue
        values = value if isinstance(value, list) else [value]
        return [str(v) for v in values if v is not None]
    return []


def text_of(record):
    """The full text of a record for perplexity: `text`, or the prompt followed by its reference."""
    if isinstance(record.get("text"), str):
        return record["text"]
    prompt, targets = prompt_of(record), targets_of(record)
    if prompt is None:
        return ""
    if not targets:
        return prompt
    return prompt + joiner(prompt) + targets[0]


def joiner(prompt):
    return "" if not prompt or prompt[-1].isspace() else " "


# --- model -----------------------------------------------------------------------------------


def load(config):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    model_dir, base_dir = Path(config["model_dir"]), config.get("base_model_dir") or ""
    tokenizer_dir = model_dir if (model_dir / "tokenizer_config.json").exists() or not base_dir else Path(base_dir)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if base_dir:
        from peft import PeftModel

        base = AutoModelForCausalLM.from_pretrained(base_dir)
        model = PeftModel.from_pretrained(base, model_dir).merge_and_unload()
        print(f"loaded the LoRA adapter on its base model ({type(model).__name__})", flush=True)
    else:
        model = AutoModelForCausalLM.from_pretrained(model_dir)
        print(f"loaded {type(model).__name__}", flush=True)
    model.eval()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return model.to(device), tokenizer, device


def max_positions(model, requested):
    limit = getattr(model.config, "n_positions", None) or getattr(model.config, "max_position_embeddings", None) or 1024
    return max(2, min(int(requested), int(limit)))


def language_model_scores(model, tokenizer, device, texts, max_length, batch_size, progress):
    """Summed NLL and predicted-token count over the texts, each scored on its own (truncated)."""
    import torch

    nll_sum, tokens, truncated = 0.0, 0, 0
    encoded = []
    for text in texts:
        ids = tokenizer(text, add_special_tokens=True)["input_ids"]
        if len(ids) > max_length:
            ids, truncated = ids[:max_length], truncated + 1
        if len(ids) >= 2:
            encoded.append(ids)
    for start in range(0, len(encoded), batch_size):
        batch = encoded[start : start + batch_size]
        width = max(len(ids) for ids in batch)
        input_ids = torch.full((len(batch), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, ids in enumerate(batch):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            mask[row, : len(ids)] = 1
        input_ids, mask = input_ids.to(device), mask.to(device)
        with torch.no_grad():
            logits = model(input_ids=input_ids, attention_mask=mask).logits.float()
        log_probs = torch.log_softmax(logits[:, :-1], dim=-1)
        picked = log_probs.gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
        keep = mask[:, 1:].bool()
        nll_sum += float(-(picked[keep]).sum())
        tokens += int(keep.sum())
        progress(min(len(encoded), start + batch_size) / max(1, len(encoded)))
    return nll_sum, tokens, len(encoded), truncated


def continuation_logprob(model, tokenizer, device, prompt, continuation, max_length):
    """log P(continuation | prompt), summed over the continuation's tokens."""
    import torch

    prompt_ids = tokenizer(prompt)["input_ids"]
    full_ids = tokenizer(prompt + continuation)["input_ids"]
    # Tokenisation may merge across the boundary; score whatever follows the shared prefix.
    shared = 0
    while shared < min(len(prompt_ids), len(full_ids)) and prompt_ids[shared] == full_ids[shared]:
        shared += 1
    cut = max(0, len(full_ids) - max_length)
    full_ids = full_ids[cut:]
    shared = max(1, shared - cut)
    if shared >= len(full_ids):
        return float("-inf")
    ids = torch.tensor([full_ids], device=device)
    with torch.no_grad():
        log_probs = torch.log_softmax(model(input_ids=ids).logits.float()[0, :-1], dim=-1)
    targets = ids[0, 1:]
    picked = log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return float(picked[shared - 1 :].sum())


def generate(model, tokenizer, device, prompt, max_new_tokens, max_length):
    """Greedy continuation of the prompt: the first non-empty line of the new text."""
    import torch

    ids = tokenizer(prompt, return_tensors="pt")["input_ids"][:, -(max_length - max_new_tokens) :].to(device)
    if ids.shape[1] == 0:
        ids = torch.tensor([[tokenizer.eos_token_id]], device=device)
    with torch.no_grad():
        out = model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens, do_sample=False,
            pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        )
    text = tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


# --- the run ---------------------------------------------------------------------------------


def evaluate(config):
    started = time.monotonic()
    wanted = M.canonical_names(config["metrics"])
    groups = M.groups_of(wanted)
    records = read_records(config["data_dir"], int(config.get("max_samples", 1000)))
    if not records:
        raise DataError("no records in the test split (.jsonl, .json or .txt files)")
    print(f"{len(records)} records; metrics: {', '.join(wanted)}", flush=True)
    model, tokenizer, device = load(config)
    max_length = max_positions(model, config.get("max_length", 1024))
    max_new_tokens = max(1, min(int(config.get("max_new_tokens", 32)), max_length - 1))
    batch_size = max(1, int(config.get("batch_size", 8)))
    stages = [g for g in ("lm", "label", "generation") if g in groups]
    results, details, predictions = {}, {"records": len(records), "max_length": max_length}, {}

    def reporter(index, stage):
        def report(fraction):
            emit("progress", fraction=round((index + fraction) / len(stages), 4), stage=stage)

        return report

    def predicted(prompt):
        if prompt not in predictions:
            predictions[prompt] = generate(model, tokenizer, device, prompt, max_new_tokens, max_length)
        return predictions[prompt]

    rows_out, failed = [], {}
    for index, stage in enumerate(stages):
        report = reporter(index, stage)
        report(0.0)
        try:
            run_stage(stage, records, wanted, results, details, rows_out, model, tokenizer, device, max_length,
                      max_new_tokens, batch_size, predicted, report)
        except DataError as exc:
            # The other metrics still count: this stage's are reported as failed, with the reason.
            names = [name for name in wanted if M.METRICS[name][0] == stage]
            failed.update(dict.fromkeys(names, str(exc)))
            print(f"data error ({', '.join(names)}): {exc}", flush=True)
    if failed and not results:
        raise DataError("; ".join(sorted(set(failed.values()))))
    if failed:
        details["failed_metrics"] = failed
    finish(config, started, results, details, rows_out)


def run_stage(stage, records, wanted, results, details, rows_out, model, tokenizer, device, max_length,
              max_new_tokens, batch_size, predicted, report):
    """One group of metrics (lm, label or generation) into `results`; DataError when the records
    cannot give them."""
    if stage == "lm":
        texts = [t for t in (text_of(r) for r in records) if t.strip()]
        if not texts:
            raise DataError("perplexity/loss: no texts (records need `text`, or a prompt field and a reference)")
        nll, tokens, scored, truncated = language_model_scores(
            model, tokenizer, device, texts, max_length, batch_size, report
        )
        if tokens == 0:
            raise DataError("perplexity/loss: the texts are too short (fewer than 2 tokens each)")
        loss, ppl = M.perplexity(nll, tokens)
        results.update({k: v for k, v in (("loss", loss), ("perplexity", ppl)) if k in wanted})
        details.update(lm_texts=scored, lm_tokens=tokens, lm_truncated=truncated)
        print(f"language modelling: {scored} texts, {tokens} predicted tokens, loss {loss:.4f}, "
              f"perplexity {ppl:.3f}", flush=True)
    elif stage == "label":
        rows = [r for r in records if prompt_of(r) is not None and targets_of(r, LABEL_FIELDS)]
        if not rows:
            rows = [r for r in records if prompt_of(r) is not None and targets_of(r)]
        if not rows:
            raise DataError("accuracy/exact_match: no labelled records (input/label or question/answer)")
        label_set = sorted({targets_of(r)[0] for r in rows if "label" in r})
        if len(label_set) > 100:
            label_set = []
        correct = matched = 0.0
        for number, record in enumerate(rows):
            prompt, refs = prompt_of(record), targets_of(record, LABEL_FIELDS) or targets_of(record)
            generated = predicted(prompt) if "exact_match" in wanted or not label_set else None
            choices = record.get("choices") if isinstance(record.get("choices"), list) else None
            candidates = [str(c) for c in choices] if choices else (label_set if "label" in record else [])
            if "accuracy" in wanted:
                if candidates:
                    scores = [continuation_logprob(model, tokenizer, device, prompt, joiner(prompt) + c, max_length)
                              for c in candidates]
                    choice = candidates[max(range(len(candidates)), key=scores.__getitem__)]
                    hit = M.exact_match(choice, refs)
                else:
                    choice = generated
                    hit = M.exact_match(generated, refs)
                correct += hit
            else:
                choice = None
            if generated is not None:
                matched += M.exact_match(generated, refs)
            rows_out.append({"prompt": prompt, "references": refs, "prediction": generated, "choice": choice})
            report((number + 1) / len(rows))
        if "accuracy" in wanted:
            results["accuracy"] = correct / len(rows)
        if "exact_match" in wanted:
            results["exact_match"] = matched / len(rows)
        details.update(labelled_records=len(rows), label_set=label_set[:20])
    else:
        rows = [r for r in records if prompt_of(r) is not None and targets_of(r, GENERATION_FIELDS)]
        if not rows:  # a QA or label file scored with generation metrics
            rows = [r for r in records if prompt_of(r) is not None and targets_of(r)]
        if not rows:
            raise DataError("bleu/chrf/rouge: no records with input and reference")
        hypotheses, references = [], []
        for number, record in enumerate(rows):
            prompt, refs = prompt_of(record), targets_of(record, GENERATION_FIELDS) or targets_of(record)
            hypotheses.append(predicted(prompt))
            references.append(refs)
            rows_out.append({"prompt": prompt, "references": refs, "prediction": hypotheses[-1]})
            report((number + 1) / len(rows))
        if "bleu" in wanted:
            results["bleu"] = M.corpus_bleu(hypotheses, references)
        if "chrf" in wanted:
            results["chrf"] = M.corpus_chrf(hypotheses, references)
        rouge_wanted = [name for name in M.ROUGE_TYPES if name in wanted]
        if rouge_wanted:
            results.update(M.rouge(hypotheses, references, rouge_wanted))
        details.update(generation_records=len(rows), max_new_tokens=max_new_tokens)


def finish(config, started, results, details, rows_out):
    details["seconds"] = round(time.monotonic() - started, 3)
    details["libraries"] = library_versions()
    out = Path(config["output_dir"])
    out.mkdir(parents=True, exist_ok=True)
    clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in results.items()}
    (out / "results.json").write_text(json.dumps({"metrics": clean, "details": details}, indent=2))
    if rows_out:
        with (out / "predictions.jsonl").open("w", encoding="utf-8") as handle:
            for row in rows_out:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    for name, value in clean.items():
        print(f"{name} = {value}", flush=True)
    emit("done", results=clean, details=details)


def library_versions():
    import importlib.metadata as meta

    versions = {}
    for name in ("torch", "transformers", "peft", "sacrebleu", "rouge-score"):
        try:
            versions[name] = meta.version(name)
        except meta.PackageNotFoundError:
            pass
    return versions


def main(argv):
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    config = json.loads(Path(argv[0]).read_text())
    threads = int(config.get("threads") or 0)
    if threads > 0:
        import torch

        torch.set_num_threads(threads)
    parent = os.getppid()
    try:
        evaluate(config)
    except DataError as exc:
        print(f"data error: {exc}", flush=True)
        return 4
    except M.UnknownMetric as exc:
        print(str(exc), flush=True)
        return 4
    if os.getppid() != parent:
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
