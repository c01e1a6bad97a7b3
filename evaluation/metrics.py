"""Built-in metrics: names, definitions and the computations that are not model work.

Pure Python (no Django), so that the evaluation child process (evaluation.runner) and the
tests import it alike. BLEU and chrF are sacrebleu's corpus scores (0-100), ROUGE is
rouge-score's F-measure (0-1) averaged over the records, perplexity is exp of the mean
negative log-likelihood per predicted token.
"""

import math
import re
import string

# name -> (group, definition, higher is better)
METRICS = {
    "loss": ("lm", "mean negative log-likelihood (nats) per predicted token of the test texts", False),
    "perplexity": ("lm", "exp(loss): perplexity of the test texts under the model", False),
    "accuracy": ("label", "share of records whose predicted label or answer is the reference "
                          "(choices ranked by likelihood when the record has candidates, else the generated answer)", True),
    "exact_match": ("label", "share of records whose generated answer equals a reference after normalisation "
                             "(lower case, no punctuation, articles or extra spaces)", True),
    "bleu": ("generation", "sacrebleu corpus BLEU (0-100) of the generated texts against the references", True),
    "chrf": ("generation", "sacrebleu corpus chrF (0-100) of the generated texts against the references", True),
    "rouge1": ("generation", "rouge-score ROUGE-1 F-measure (0-1), mean over records, Porter stemming", True),
    "rouge2": ("generation", "rouge-score ROUGE-2 F-measure (0-1), mean over records, Porter stemming", True),
    "rougeL": ("generation", "rouge-score ROUGE-L F-measure (0-1), mean over records, Porter stemming", True),
}
ALIASES = {
    "ppl": "perplexity", "nll": "loss", "acc": "accuracy", "em": "exact_match", "exact-match": "exact_match",
    "exactmatch": "exact_match", "sacrebleu": "bleu", "chrf2": "chrf", "rouge-1": "rouge1", "rouge-2": "rouge2",
    "rouge-l": "rougeL", "rougel": "rougeL",
}
ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


class UnknownMetric(ValueError):
    pass


def canonical_names(names):
    """Requested names (any case, aliases, "rouge" for all three) -> canonical names in METRICS order."""
    wanted = set()
    for raw in names:
        key = str(raw).strip()
        lowered = key.lower()
        if lowered == "rouge":
            wanted.update(ROUGE_TYPES)
            continue
        name = ALIASES.get(lowered, lowered if lowered in METRICS else key if key in METRICS else None)
        if name is None:
            raise UnknownMetric(f"unknown metric {key[:60]!r}; built-in metrics: {', '.join(METRICS)} (or rouge)")
        wanted.add(name)
    return [name for name in METRICS if name in wanted]


def groups_of(names):
    return {METRICS[name][0] for name in names}


def higher_is_better(name):
    return METRICS[name][2] if name in METRICS else None


# --- language modelling --------------------------------------------------------------------


def perplexity(nll_sum, tokens):
    """(loss, perplexity) from a summed negative log-likelihood over `tokens` predicted tokens."""
    if tokens <= 0:
        raise ValueError("no predicted tokens")
    loss = nll_sum / tokens
    return loss, math.exp(loss) if loss < 700 else float("inf")


# --- answers ---------------------------------------------------------------------------------

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.IGNORECASE)
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text):
    """SQuAD's normalisation: lower case, no punctuation, no articles, single spaces."""
    text = str(text).lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction, references):
    wanted = {normalize_answer(r) for r in references}
    return 1.0 if normalize_answer(prediction) in wanted else 0.0


# --- generation ------------------------------------------------------------------------------


def reference_streams(references):
    """Per-record reference lists -> sacrebleu's streams (one list per reference position).

    Records with fewer references are padded with None, which sacrebleu skips."""
    width = max((len(refs) for refs in references), default=0)
    return [[refs[i] if i < len(refs) else None for refs in references] for i in range(width)]


def corpus_bleu(predictions, references):
    import sacrebleu

    return sacrebleu.corpus_bleu(predictions, reference_streams(references)).score


def corpus_chrf(predictions, references):
    import sacrebleu

    return sacrebleu.corpus_chrf(predictions, reference_streams(references)).score


def rouge(predictions, references, types=ROUGE_TYPES):
    """Mean F-measure per ROUGE type; with several references a record scores its best one."""
    from rouge_score import rouge_scorer

    if not predictions:
        return {name: 0.0 for name in types}
    scorer = rouge_scorer.RougeScorer(list(types), use_stemmer=True)
    totals = {name: 0.0 for name in types}
    for prediction, refs in zip(predictions, references):
        scores = scorer.score_multi(refs, prediction) if len(refs) > 1 else scorer.score(refs[0], prediction)
        for name in types:
            totals[name] += scores[name].fmeasure
    return {name: totals[name] / len(predictions) for name in types}
