"""The replica's decoding loop: requests join and leave a running batch between steps, each one
streaming its own tokens with its own sampling settings, and computing what it would alone."""

import threading
import time

import pytest
import torch

from serving.replica import Generator


@pytest.fixture(scope="module")
def generator(tmp_path_factory):
    """A tiny GPT-2 with large random weights: its greedy answers change from token to token (the
    trained tiny model repeats one token), so a wrong position or mask would show."""
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    from hub.tiny_models import build_tiny_gpt2

    folder = build_tiny_gpt2(tmp_path_factory.mktemp("varied-gpt2"), train_steps=0)
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(AutoTokenizer.from_pretrained(folder)), n_positions=128, n_layer=2, n_embd=64,
                        n_head=2, initializer_range=0.3)
    GPT2LMHeadModel(config).save_pretrained(folder)
    torch.set_num_threads(1)
    return Generator(folder).start_engine(max_batch=8)


PROMPTS = ["the cat", "a model of the world is", "once upon a time there was a very small", "x"]


def alone(generator, prompt, max_tokens):
    """Greedy tokens of `prompt` by transformers' own generate, one request alone."""
    ids = generator.tokenizer(prompt)["input_ids"]
    with torch.inference_mode():
        out = generator.model.generate(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                       max_new_tokens=max_tokens, do_sample=False, pad_token_id=generator.tokenizer.eos_token_id)
    tokens = out[0, len(ids):].tolist()
    eos = generator.tokenizer.eos_token_id
    return tokens[: tokens.index(eos)] if eos in tokens else tokens


def request(generator, prompt, **fields):
    body = {"prompt": prompt, "max_tokens": 12, "temperature": 0, **fields}
    return generator.prepare(body)


def collect(sequence):
    tokens = []
    while True:
        item = sequence.out.get(timeout=60)
        if isinstance(item, tuple):
            return tokens, item[1]
        tokens.append(item)


def test_concurrent_greedy_requests_of_different_lengths_match_each_one_alone(generator):
    sequences = [generator.engine.submit(request(generator, p, max_tokens=4 + 3 * i)) for i, p in enumerate(PROMPTS)]

    results = [collect(s) for s in sequences]

    for i, (prompt, (tokens, reason)) in enumerate(zip(PROMPTS, results)):
        assert tokens == alone(generator, prompt, 4 + 3 * i), prompt
        assert len(set(tokens)) > 1
        assert reason in ("length", "stop")


def test_a_request_joins_a_running_batch_and_each_streams_its_own_tokens(generator):
    first = generator.engine.submit(request(generator, PROMPTS[2], max_tokens=40))
    head = first.out.get(timeout=60)
    assert isinstance(head, int)  # the first is decoding
    steps = generator.engine.steps
    second = generator.engine.submit(request(generator, PROMPTS[1], max_tokens=6))

    second_tokens, _ = collect(second)
    first_tokens, _ = collect(first)

    assert second_tokens == alone(generator, PROMPTS[1], 6)
    assert [head] + first_tokens == alone(generator, PROMPTS[2], 40)
    # The second joined the running batch: both were decoded by the same steps.
    assert generator.engine.steps - steps < len(first_tokens) + len(second_tokens)


def test_seeded_sampling_does_not_depend_on_the_batch(generator):
    body = {"temperature": 0.9, "top_p": 0.8, "seed": 7, "max_tokens": 10}
    lone = collect(generator.engine.submit(request(generator, PROMPTS[0], **body)))[0]
    crowd = [generator.engine.submit(request(generator, p, temperature=1.0, max_tokens=10)) for p in PROMPTS[1:]]
    seeded = generator.engine.submit(request(generator, PROMPTS[0], **body))

    assert collect(seeded)[0] == lone
    for sequence in crowd:
        collect(sequence)


def test_streams_stop_strings_and_non_streamed_answers(generator):
    whole = generator.submit(request(generator, PROMPTS[1], max_tokens=12))
    events = list(generator.stream(request(generator, PROMPTS[1], max_tokens=12)))

    assert "".join(e["text"] for e in events if "text" in e) == whole["text"]
    assert events[-1]["done"] and events[-1]["completion_tokens"] == whole["completion_tokens"]
    assert whole["prompt_tokens"] == len(generator.tokenizer(PROMPTS[1])["input_ids"])
    if len(whole["text"]) > 3:
        stop = whole["text"][2:4]
        cut = generator.submit(request(generator, PROMPTS[1], max_tokens=12, stop=[stop]))
        assert cut["finish_reason"] == "stop" and cut["text"] == whole["text"][: whole["text"].find(stop)]


def test_eight_streams_at_once_all_finish_and_the_engine_empties(generator):
    answers = [None] * 8

    def chat(i):
        answers[i] = list(generator.stream(request(generator, PROMPTS[i % 4], temperature=0.8, max_tokens=8 + i)))

    threads = [threading.Thread(target=chat, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert all(a and a[-1]["done"] and a[-1]["completion_tokens"] <= 8 + i for i, a in enumerate(answers))
    deadline = time.monotonic() + 5
    while generator.engine.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert generator.engine.running == []


def test_a_stream_interval_sends_the_first_delta_at_once_then_the_tokens_made_meanwhile_together(generator):
    body = request(generator, PROMPTS[2], max_tokens=40)
    per_token = list(generator.stream(body))
    generator.stream_interval_s = 0.05
    try:
        started = time.monotonic()
        stamps, events = [], []
        for event in generator.stream(request(generator, PROMPTS[2], max_tokens=40)):
            stamps.append(time.monotonic() - started)
            events.append(event)
    finally:
        generator.stream_interval_s = 0.0

    text = "".join(e["text"] for e in events if "text" in e)
    assert text == "".join(e["text"] for e in per_token if "text" in e)  # the same answer, in fewer deltas
    assert events[-1] == per_token[-1]
    deltas = [s for s, e in zip(stamps, events) if "text" in e]
    assert len(deltas) < len([e for e in per_token if "text" in e])
    # After the first, deltas are at least an interval apart (up to the timer's slack), but for the last:
    # the end of the sequence is not held back.
    assert all(b - a >= 0.045 for a, b in list(zip(deltas, deltas[1:]))[:-1])
