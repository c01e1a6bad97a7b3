"""Default cadences scale with the run; explicit hyper-parameters win."""

import json

from tests.training.test_runner import events, run_runner
from hub.tiny_models import corpus_lines
from training.schedule import plan, sample_indices, total_steps


def test_a_short_run_logs_every_step_and_evaluates_at_most_ten_times_on_a_sample():
    # The run: 856 training blocks, batch 8, 1 epoch = 107 steps; 856 validation blocks.
    chosen = plan(steps=107, hyper={"per_device_train_batch_size": 8}, eval_blocks=856)

    assert chosen["logging_steps"] == 1 and chosen["log_points"] == 107
    assert chosen["eval_strategy"] == "steps" and chosen["eval_steps"] == 10 and chosen["evaluations"] == 10
    # All evaluations together look at about a quarter of the blocks trained on (~8 % of the loop).
    assert chosen["eval_sample"] == 21 and chosen["evaluations"] * chosen["eval_sample"] <= 0.25 * 856
    assert chosen["per_device_eval_batch_size"] == 8
    # No intermediate checkpoint in a run shorter than the minimum cadence.
    assert chosen["save_steps"] == 200 and chosen["checkpoints"] == 0
    assert "every step" in chosen["reasons"]["logging_steps"]


def test_a_long_run_keeps_every_count_bounded():
    for steps in (1_000, 20_000, 1_000_000):
        chosen = plan(steps=steps, hyper={}, eval_blocks=50_000)

        assert 100 <= chosen["log_points"] <= 200
        assert 1 <= chosen["evaluations"] <= 10
        assert chosen["checkpoints"] <= 10
        assert 16 <= chosen["eval_sample"] <= 256
        assert chosen["evaluations"] * chosen["eval_sample"] <= 0.25 * steps
    assert plan(steps=1_000_000, hyper={}, eval_blocks=50_000)["eval_sample"] == 256


def test_a_very_short_run_gets_fewer_evaluations_rather_than_a_tiny_sample():
    chosen = plan(steps=20, hyper={"per_device_train_batch_size": 4}, eval_blocks=500)

    assert chosen["eval_sample"] == 16 and chosen["evaluations"] == 1 and chosen["eval_steps"] == 10


def test_explicit_hyper_parameters_win_over_the_defaults():
    hyper = {"logging_steps": 1, "eval_steps": 5, "save_steps": 50, "eval_sample_size": 0, "per_device_eval_batch_size": 2}

    chosen = plan(steps=20_000, hyper=hyper, eval_blocks=1000)

    assert chosen["logging_steps"] == 1 and chosen["eval_steps"] == 5 and chosen["save_steps"] == 50
    assert chosen["per_device_eval_batch_size"] == 2
    assert chosen["eval_sample"] == 0  # the whole split
    assert chosen["reasons"]["eval_steps"] == "set by the request"
    assert plan(steps=100, hyper={"eval_strategy": "no"}, eval_blocks=10)["evaluations"] == 0


def test_without_validation_data_nothing_is_evaluated_and_a_small_split_is_not_sampled():
    assert plan(steps=500, hyper={}, eval_blocks=0)["eval_strategy"] == "no"
    assert plan(steps=500, hyper={}, eval_blocks=10)["eval_sample"] == 0  # 10 blocks < the sample: all of them


def test_total_steps_and_the_sample_match_the_trainer():
    assert total_steps(train_blocks=856, batch_size=8, accumulation=1, epochs=1, max_steps=-1) == 107
    assert total_steps(train_blocks=10, batch_size=4, accumulation=2, epochs=3, max_steps=-1) == 3
    assert total_steps(train_blocks=10, batch_size=4, accumulation=1, epochs=1, max_steps=7) == 7
    sample = sample_indices(856, 256)
    assert len(sample) == 256 == len(set(sample)) and sample[0] == 0 and sample[-1] < 856


def test_the_runner_follows_the_plan_and_evaluates_the_whole_split_at_the_end(tmp_path, tiny_model_dir):
    lines = corpus_lines()
    for split, rows in (("train", lines * 3), ("validate", lines)):
        (tmp_path / "data" / split).mkdir(parents=True)
        (tmp_path / "data" / split / "t.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in rows))
    config = {"model_dir": str(tiny_model_dir), "data_dir": str(tmp_path / "data"), "output_dir": str(tmp_path / "ckpt"),
              "final_dir": str(tmp_path / "final"), "strategy": "LoRA", "eval_sample_blocks": 3,
              "hyper": {"max_steps": 30, "per_device_train_batch_size": 2, "max_seq_length": 16}}
    (tmp_path / "config.json").write_text(json.dumps(config))

    done = run_runner(tmp_path / "config.json")

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    seen = events(done.stdout)
    chosen = next(e for e in seen if e["event"] == "plan")
    # 60 blocks trained on: a quarter is 15 blocks, five evaluations of the 3-block sample, inside the run.
    assert chosen["total_steps"] == 30 and chosen["logging_steps"] == 1 and chosen["eval_steps"] == 5
    assert chosen["eval_sample"] == 3 and chosen["eval_blocks"] > 3
    metrics = [e for e in seen if e["event"] == "metric"]
    assert [e["step"] for e in metrics if "loss" in e] == list(range(1, 31))
    evals = [e for e in metrics if "eval_loss" in e]
    # The sampled evaluation at the last step is skipped: the whole split is evaluated there.
    assert [(e["step"], e["eval_blocks"]) for e in evals] == [(s, 3) for s in (5, 10, 15, 20, 25)] + [
        (30, chosen["eval_blocks"])
    ]
    timing = next(e for e in seen if e["event"] == "timing")
    assert timing["evaluations"] == 5 and 0 <= timing["eval_share"] < 1
    # 30 steps < 200: no intermediate checkpoint, only the Trainer's own at the last step.
    assert [e["path"] for e in seen if e["event"] == "checkpoint"] == ["checkpoint-30"]
