"""Tiny real models built locally, for demo data and tests (nothing is downloaded).

build_tiny_gpt2(folder) trains a byte-level BPE tokenizer on a small built-in English
corpus, builds a 2-layer GPT-2 (n_embd 64) and, optionally, trains it for a few steps
on the same corpus; both are written with save_pretrained. The result loads with
AutoTokenizer / AutoModelForCausalLM.from_pretrained(folder).
"""

from pathlib import Path

CORPUS = """\
The river runs past the old mill and the children watch the water turn the wheel.
A small model learns the shape of language one token at a time.
Researchers train models on data, evaluate them on held out sets, and write down what they find.
The furnace was heated slowly, and the crystal grew in the quiet of the night.
Every experiment begins with a question and ends with a number that must be checked twice.
She opened the notebook, read the results, and smiled at the falling loss curve.
The weather today is clear with a light wind from the west and cool air in the evening.
Good software is simple to read, easy to test, and honest about what it does.
A tokenizer splits text into pieces, and the model predicts which piece comes next.
The library was quiet except for the sound of pages turning and rain on the windows.
Training runs for many steps; each step nudges the weights toward a better guess.
The cat slept in the sun while the dog kept watch at the garden gate.
Data sets are split into train, validate and test so that the score means something.
On Monday the team met to plan the week, and on Friday they shipped the release.
Measure twice, cut once, and keep a record of every change you make.
The mountain path was steep, but the view from the top was worth every step.
Numbers without context mislead; a baseline gives them meaning.
He wrote a short letter to his friend, describing the city, the food and the people.
Light travels fast, sound travels slower, and rumours travel fastest of all.
The model answered the question, and the reviewer checked whether the answer was right.
In spring the fields turn green, in summer they turn gold, and in autumn they are harvested.
A careful engineer reads the error message before changing the code.
The bridge connects the two halves of the town and carries people to work every morning.
Small models are fast to train and useful for tests, demos and teaching.
"""

SPECIAL_TOKENS = ["<|endoftext|>"]


def corpus_lines():
    return [line for line in CORPUS.splitlines() if line.strip()]


def train_tokenizer(vocab_size=1000):
    """A byte-level BPE tokenizer trained on CORPUS, as a transformers PreTrainedTokenizerFast."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus_lines() * 4, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        model_max_length=128,
    )


def build_tiny_gpt2(folder, *, seed=0, train_steps=30, n_layer=2, n_embd=64, n_head=2, vocab_size=1000):
    """Write a tiny GPT-2 causal LM and its tokenizer to `folder`; return the folder."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(vocab_size)
    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=128,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    model = GPT2LMHeadModel(config)
    if train_steps:
        train_on_corpus(model, tokenizer, steps=train_steps)
    model.eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "README.md").write_text(
        "---\n"
        "pipeline_tag: text-generation\n"
        "library_name: transformers\n"
        "language:\n- English\n"
        "license: mit\n"
        "---\n\n"
        "# tiny-gpt2\n\n"
        f"A {n_layer}-layer GPT-2 (n_embd {n_embd}, vocabulary {len(tokenizer)}) with a byte-level BPE tokenizer, "
        f"both trained on a small built-in English corpus ({train_steps} steps). Built by `hub.tiny_models`; "
        "meant for tests and demos, not for quality.\n"
    )
    return folder


def train_on_corpus(model, tokenizer, steps=30, lr=3e-3):
    import torch

    text = tokenizer.eos_token.join(corpus_lines())
    ids = torch.tensor([tokenizer(text)["input_ids"]])
    block = 64
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    for step in range(steps):
        start = (step * 17) % max(1, ids.shape[1] - block)
        batch = ids[:, start : start + block]
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return model
