"""A worker killed while the Trainer was saving leaves a half-written checkpoint: the next
attempt resumes from the last complete one instead of failing on it."""

from training.execution import checkpoint_steps, drop_incomplete_checkpoints


class Log:
    def __init__(self):
        self.lines = []

    def log(self, line):
        self.lines.append(line)


def test_a_half_written_checkpoint_is_dropped_and_the_last_complete_one_is_resumed(tmp_path):
    for step in (5, 10):
        (tmp_path / f"checkpoint-{step}").mkdir()
        (tmp_path / f"checkpoint-{step}" / "adapter_model.safetensors").write_bytes(b"weights")
        (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-15").mkdir()  # killed mid-save: weights, but no trainer state yet
    (tmp_path / "checkpoint-15" / "adapter_model.safetensors").write_bytes(b"half")
    log = Log()

    drop_incomplete_checkpoints(tmp_path, log)

    assert checkpoint_steps(tmp_path) == [5, 10]
    assert not (tmp_path / "checkpoint-15").exists()
    assert log.lines == ["removed checkpoint-15: it was not completely saved"]
