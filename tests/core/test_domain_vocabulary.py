"""The domain layer speaks the platform's own terms: no spec field name, envelope or URL below a
facade (`<app>/compat.py`, and the HF and OpenAI routes, which speak those protocols).

The specs' vocabulary is read from shared/specs: every camelCase word of the documents (the
field names of their bodies and answers, `pageNum`, `modelVersionId`, `errorCode`...) and every
path of endpoints.md. A service, selector, clean-API, page or form module that names one fails.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT.parent / "shared" / "specs"
APPS = ["accounts", "chat", "core", "evaluation", "experiments", "files", "hub", "images", "registry", "serving",
        "sgt", "training"]
LAYERS = ["services", "selectors", "api", "pages", "forms"]
CAMEL = re.compile(r"\b[a-z]+[A-Z][A-Za-z0-9]*\b")
ROW = re.compile(r"^\|\s*\d+\s*\|\s*(?:GET|POST)\s*\|\s*(\S+)\s*\|", re.M)
# camelCase words of the specs that are also ordinary words of Python, Django or HTML
COMMON = {"setTimeout", "innerHTML", "textContent"}


def spec_vocabulary():
    if not SPECS.exists():
        pytest.skip(f"{SPECS} not found (shared/specs sits beside the checkout)")
    words = set()
    for document in SPECS.glob("*.md"):
        words.update(CAMEL.findall(document.read_text()))
    paths = {p.split("{")[0].rstrip("/") for p in ROW.findall((SPECS / "endpoints.md").read_text())}
    return words - COMMON, {p for p in paths if p.count("/") > 1 or len(p) > 8}


def domain_modules():
    for app in APPS:
        for layer in LAYERS:
            for module in [ROOT / app / f"{layer}.py", *sorted((ROOT / app / layer).glob("*.py"))]:
                if module.exists():
                    yield module


def spec_words_in(module, words, paths):
    text = module.read_text()
    found = sorted({w for w in CAMEL.findall(text) if w in words})
    found += sorted(p for p in paths if re.search(re.escape(p) + r"(?![\w/])", text))
    if re.search(r"^\s*(from core(\.envelopes)? import .*\b(ok|fail|envelopes)\b|import core\.envelopes)", text, re.M):
        found.append("core.envelopes")
    return found


def test_no_spec_vocabulary_below_the_facades():
    words, paths = spec_vocabulary()
    leaks = {}
    for module in domain_modules():
        found = spec_words_in(module, words, paths)
        if found:
            leaks[str(module.relative_to(ROOT))] = found
    assert not leaks, "spec vocabulary below compat.py: " + "; ".join(f"{m}: {', '.join(w)}" for m, w in leaks.items())


def test_the_vocabulary_is_read_from_the_specs():
    words, paths = spec_vocabulary()
    assert {"pageNum", "modelVersionId", "errorCode", "returnCode"} <= words
    assert "/kernel/fineTune/createLlmFineTuneTask" in paths
