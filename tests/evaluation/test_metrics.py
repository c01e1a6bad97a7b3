"""Metric values against the libraries' own results and a hand-computed perplexity."""

import json
import math

import pytest
import sacrebleu
import torch
from rouge_score import rouge_scorer
from transformers import AutoModelForCausalLM, AutoTokenizer

from evaluation import metrics as M
from evaluation import runner

HYPOTHESES = ["the cat sat on the mat", "a quick brown fox jumps over the dog", "rain falls on the plain"]
REFERENCES = [["the cat is on the mat"], ["the quick brown fox jumps over the lazy dog"], ["the rain in spain falls"]]


def test_bleu_and_chrf_are_sacrebleus_corpus_scores():
    streams = [[refs[0] for refs in REFERENCES]]
    assert M.corpus_bleu(HYPOTHESES, REFERENCES) == pytest.approx(sacrebleu.corpus_bleu(HYPOTHESES, streams).score)
    assert M.corpus_chrf(HYPOTHESES, REFERENCES) == pytest.approx(sacrebleu.corpus_chrf(HYPOTHESES, streams).score)
    assert 0 < M.corpus_bleu(HYPOTHESES, REFERENCES) < 100
    assert M.corpus_bleu(["identical words here today"], [["identical words here today"]]) == pytest.approx(100.0)


def test_several_references_per_record_are_padded_for_sacrebleu():
    references = [["the cat is on the mat", "there is a cat on the mat"], ["the quick brown fox"]]
    hypotheses = ["the cat sat on the mat", "the quick brown fox"]
    expected = sacrebleu.corpus_bleu(hypotheses, [["the cat is on the mat", "the quick brown fox"],
                                                  ["there is a cat on the mat", None]]).score
    assert M.corpus_bleu(hypotheses, references) == pytest.approx(expected)


def test_rouge_is_the_mean_rouge_score_f_measure():
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    expected = {name: 0.0 for name in ("rouge1", "rouge2", "rougeL")}
    for hypothesis, refs in zip(HYPOTHESES, REFERENCES):
        scores = scorer.score(refs[0], hypothesis)
        for name in expected:
            expected[name] += scores[name].fmeasure / len(HYPOTHESES)
    got = M.rouge(HYPOTHESES, REFERENCES)
    for name, value in expected.items():
        assert got[name] == pytest.approx(value)
    assert 0 < got["rougeL"] < 1


def test_exact_match_normalises_like_squad():
    assert M.exact_match("The Water.", ["water"]) == 1.0
    assert M.exact_match("  in   the sun! ", ["in the sun"]) == 1.0
    assert M.exact_match("sunlight", ["sun"]) == 0.0


def test_metric_names_aliases_and_unknown_names():
    assert M.canonical_names(["PPL", "rouge", "BLEU", "em"]) == ["perplexity", "exact_match", "bleu", "rouge1", "rouge2", "rougeL"]
    with pytest.raises(M.UnknownMetric, match="unknown metric 'meteor'"):
        M.canonical_names(["meteor"])


def test_perplexity_matches_a_hand_computed_value(tiny_model_dir):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    texts = ["The river runs past the old mill.", "A careful engineer reads the error message before changing the code."]
    # By hand: the summed negative log-probability of every token after the first, text by text.
    nll, count = 0.0, 0
    for text in texts:
        ids = tokenizer(text)["input_ids"]
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids])).logits[0]
        for position in range(1, len(ids)):
            row = logits[position - 1].double()
            nll -= float(row[ids[position]] - torch.logsumexp(row, dim=0))
            count += 1
    # The runner pads both texts into one batch; padding must not change the result.
    got_nll, got_tokens, scored, truncated = runner.language_model_scores(
        model, tokenizer, "cpu", texts, max_length=128, batch_size=8, progress=lambda fraction: None
    )
    assert (got_tokens, scored, truncated) == (count, 2, 0)
    assert got_nll == pytest.approx(nll, rel=1e-4)
    loss, ppl = M.perplexity(got_nll, got_tokens)
    assert ppl == pytest.approx(math.exp(nll / count), rel=1e-4)
    # The same as transformers' own mean loss for one text.
    ids = torch.tensor([tokenizer(texts[0])["input_ids"]])
    with torch.no_grad():
        hf_loss = float(model(input_ids=ids, labels=ids).loss)
    one_nll, one_tokens, _, _ = runner.language_model_scores(model, tokenizer, "cpu", texts[:1], 128, 1, lambda f: None)
    assert one_nll / one_tokens == pytest.approx(hf_loss, rel=1e-4)


def test_records_prompts_and_targets():
    assert runner.prompt_of({"question": "Why?", "context": "Because."}) == "Because.\nQuestion: Why?\nAnswer:"
    assert runner.prompt_of({"instruction": "Sum", "input": "1 2"}).endswith("### Response:\n")
    assert runner.targets_of({"answer": ["a", "b"]}) == ["a", "b"]
    assert runner.text_of({"input": "Review: fine. Sentiment:", "label": "positive"}) == "Review: fine. Sentiment: positive"


def test_a_metric_the_data_cannot_give_fails_alone(tiny_model_dir, tmp_path, capsys):
    """Plain texts have no references: BLEU fails with its reason, loss and perplexity are kept."""
    data = tmp_path / "test"
    data.mkdir()
    (data / "texts.jsonl").write_text('{"text": "The river runs past the old mill."}\n'
                                      '{"text": "A careful engineer reads the error message."}\n')
    config = {"model_dir": str(tiny_model_dir), "data_dir": str(data), "output_dir": str(tmp_path / "out"),
              "metrics": ["perplexity", "loss", "bleu"], "max_length": 64}
    runner.evaluate(config)
    written = json.loads((tmp_path / "out" / "results.json").read_text())
    assert set(written["metrics"]) == {"loss", "perplexity"} and written["metrics"]["perplexity"] > 1
    assert written["details"]["failed_metrics"] == {"bleu": "bleu/chrf/rouge: no records with input and reference"}

    config["metrics"] = ["bleu", "accuracy"]  # nothing this data can give: the task fails, with every reason
    with pytest.raises(runner.DataError, match="accuracy/exact_match: no labelled records.*bleu/chrf/rouge"):
        runner.evaluate(config)
