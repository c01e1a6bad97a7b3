"""Default logging, evaluation and checkpoint cadences that scale with the run.

Pure functions, no Django and no torch: the training child (training.runner) calls `plan` once it
knows how many optimizer steps the run has, and prints the result as a `plan` event that the page
shows. Every value the request (or its config.json) sets explicitly wins; only the missing ones are
chosen here, each with the reason it was chosen.

The defaults follow what LLaMA-Factory's examples and the Trainer's users set by hand: a bounded
number of points per chart (every step only for short runs), a handful of intermediate evaluations
on a fixed sample of the validation split plus one full evaluation at the end, and a bounded number
of checkpoints.
"""

import math

MAX_LOG_POINTS = 200  # points per chart: every step for runs up to this many steps
MAX_EVALUATIONS = 10  # intermediate evaluations per run
# Validation blocks evaluated during training, all evaluations together, as a share of the blocks
# trained on: a forward pass without gradients costs about a third of a training step's, so this
# keeps evaluation near 8 % of the training loop's time.
EVAL_BUDGET = 0.25
MIN_EVAL_SAMPLE = 16  # fewer evaluations rather than a smaller sample
MAX_CHECKPOINTS = 10  # intermediate checkpoints per run
MIN_SAVE_STEPS = 200  # the spec's example (and the Trainer's users): no checkpoint more often than this
DEFAULT_EVAL_SAMPLE_BLOCKS = 256


def total_steps(*, train_blocks, batch_size, accumulation, epochs, max_steps):
    """Optimizer steps of a run, computed as transformers.Trainer does on one device."""
    if max_steps and max_steps > 0:
        return int(max_steps)
    batches = math.ceil(train_blocks / max(batch_size, 1))
    per_epoch = max(batches // max(accumulation, 1), 1)
    return max(math.ceil(epochs * per_epoch), 1)


def sample_indices(count, size):
    """`size` evenly spaced indices of range(count) (all of them when size is 0 or >= count): a fixed,
    reproducible sample that covers the whole validation split."""
    if size <= 0 or size >= count:
        return list(range(count))
    return [math.floor(i * count / size) for i in range(size)]


def plan(*, steps, hyper, eval_blocks, eval_sample_blocks=DEFAULT_EVAL_SAMPLE_BLOCKS):
    """The cadences for a run of `steps` optimizer steps with `eval_blocks` validation blocks.

    Intermediate evaluation: at most MAX_EVALUATIONS, each on the same evenly spaced sample of the
    validation split, sized so that all of them together evaluate about EVAL_BUDGET of the blocks the
    run trains on (at least MIN_EVAL_SAMPLE blocks, at most `eval_sample_blocks`); a short run gets
    fewer evaluations rather than a smaller sample. The whole split is evaluated once at the end.

    Returns {"logging_steps", "eval_strategy", "eval_steps", "eval_sample", "save_strategy",
    "save_steps", "total_steps", "eval_blocks", "evaluations", "log_points", "checkpoints",
    "reasons": {name: why}}.
    """
    steps = max(int(steps), 1)
    reasons = {}

    if "logging_steps" in hyper:
        logging_steps = int(hyper["logging_steps"])
        reasons["logging_steps"] = "set by the request"
    else:
        logging_steps = max(math.ceil(steps / MAX_LOG_POINTS), 1)
        reasons["logging_steps"] = (
            f"every step: the run has {steps} steps (<= {MAX_LOG_POINTS})" if logging_steps == 1
            else f"{steps} steps / at most {MAX_LOG_POINTS} points per chart"
        )

    batch = int(hyper.get("per_device_train_batch_size", 1))
    if "per_device_eval_batch_size" in hyper:
        eval_batch = int(hyper["per_device_eval_batch_size"])
        reasons["per_device_eval_batch_size"] = "set by the request"
    else:
        eval_batch = batch
        reasons["per_device_eval_batch_size"] = "the training batch size (evaluation keeps no gradients)"

    eval_strategy, eval_steps, eval_sample = "no", None, 0
    if eval_blocks:
        eval_strategy = hyper.get("eval_strategy", "steps")
        reasons["eval_strategy"] = "set by the request" if "eval_strategy" in hyper else "validate/ has data"
        trained = steps * batch * int(hyper.get("gradient_accumulation_steps", 1))
        budget = EVAL_BUDGET * trained
        if "eval_sample_size" in hyper:
            eval_sample = int(hyper["eval_sample_size"])
            reasons["eval_sample"] = "set by the request" + (" (0: the whole split)" if eval_sample == 0 else "")
        else:
            eval_sample = int(min(eval_sample_blocks or eval_blocks, eval_blocks,
                                  max(MIN_EVAL_SAMPLE, budget // MAX_EVALUATIONS)))
            reasons["eval_sample"] = (
                f"{EVAL_BUDGET:.0%} of the {trained} blocks trained on, over at most {MAX_EVALUATIONS} evaluations "
                f"(at least {MIN_EVAL_SAMPLE}, at most {eval_sample_blocks or 'all'}); the whole split at the end"
            )
        size = eval_sample or eval_blocks
        if eval_strategy == "steps":
            if "eval_steps" in hyper:
                eval_steps = int(hyper["eval_steps"])
                reasons["eval_steps"] = "set by the request"
            else:
                evaluations = int(max(1, min(MAX_EVALUATIONS, budget // size)))
                # Strictly inside the run: the last step gets the full evaluation instead.
                eval_steps = max(math.ceil(steps / (evaluations + 1)), 1)
                reasons["eval_steps"] = (
                    f"at most {MAX_EVALUATIONS} evaluations in {steps} steps" if evaluations == MAX_EVALUATIONS
                    else f"{evaluations} evaluation(s) of {size} blocks fit {EVAL_BUDGET:.0%} of the {trained} blocks trained on"
                )
        if eval_sample >= eval_blocks:
            eval_sample = 0
            if "eval_sample_size" not in hyper:
                reasons["eval_sample"] = f"all {eval_blocks} blocks: the split is no larger than the sample"
    else:
        reasons["eval_strategy"] = "no validate/ data"

    save_strategy = hyper.get("save_strategy", "steps")
    reasons["save_strategy"] = "set by the request" if "save_strategy" in hyper else "default"
    if "save_steps" in hyper:
        save_steps = int(hyper["save_steps"])
        reasons["save_steps"] = "set by the request"
    else:
        save_steps = max(MIN_SAVE_STEPS, math.ceil(steps / MAX_CHECKPOINTS))
        reasons["save_steps"] = f"every {MIN_SAVE_STEPS} steps or more, at most {MAX_CHECKPOINTS} checkpoints per run"

    return {
        "total_steps": steps,
        "logging_steps": logging_steps,
        "eval_strategy": eval_strategy,
        "eval_steps": eval_steps,
        "eval_sample": eval_sample,
        "eval_blocks": int(eval_blocks),
        "per_device_eval_batch_size": eval_batch,
        "save_strategy": save_strategy,
        "save_steps": save_steps,
        "log_points": math.ceil(steps / logging_steps),
        # The sampled evaluation the Trainer would run at the last step is skipped (training.runner):
        # the whole split is evaluated right after.
        "evaluations": (steps - 1) // eval_steps if eval_strategy == "steps" and eval_steps else 0,
        "checkpoints": steps // save_steps if save_strategy == "steps" else 0,
        "reasons": reasons,
    }
