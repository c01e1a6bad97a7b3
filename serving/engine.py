"""Continuous batching for a causal language model: one decoding loop per replica.

Every generation, streamed or not, becomes a `Sequence` submitted to the replica's `DecodeEngine`.
The engine's single thread runs the model one decoding step at a time for every running sequence
together, as vLLM and TGI schedule: requests join the running batch between two steps and leave it
when they finish, and each sequence's tokens are handed to its request thread as they are made.

How the batch is kept (Hugging Face causal LMs with a `DynamicCache`, e.g. GPT-2, Llama, Qwen2):
- rows are left-padded: the batch's attention mask marks each row's real tokens, which end at the
  right edge, and position ids are counted from the mask (a row's positions are its own, whatever the
  padding), so a padded row computes what it would compute alone;
- newcomers are prefilled together (their prompts left-padded to the longest), then their key/value
  cache is joined to the running one: the shorter of the two is padded on the left of the sequence
  axis (masked out), and rows are concatenated;
- a finished row is dropped from the cache and the mask; columns that have become padding in every
  row are cut from the left, so the cache is never wider than the longest live row;
- each sequence samples with its own settings (temperature, top_p; temperature 0 is greedy) from its
  own `torch.Generator` (seeded when the request has a seed), so its tokens do not depend on which
  other requests share the batch.

A request thread reads its sequence's queue: token ids, then `(END, finish_reason)` or an exception.
It may cancel its sequence (a stop string was found, or the client went away); the engine drops it
before the next step. No Django here: the replica imports this module.
"""

import inspect
import queue
import threading

END = object()


class Sequence:
    """One generation: its prompt ids, its settings, its tokens so far and the queue it streams to."""

    def __init__(self, req, torch):
        self.ids = list(req["ids"])
        self.max_tokens = int(req["max_tokens"])
        self.temperature = float(req.get("temperature", 1.0))
        self.top_p = float(req.get("top_p", 1.0))
        self.generator = torch.Generator()
        if req.get("seed") is not None:
            self.generator.manual_seed(int(req["seed"]))
        else:
            self.generator.seed()
        self.made = 0
        self.pending = None  # sampled, streamed, not yet fed to the model
        self.out = queue.Queue()
        self.cancelled = threading.Event()
        self.ended = threading.Event()  # set with the last item put on `out` (its end or an error)

    def end(self, item):
        """Put the sequence's last item (`(END, reason)` or an exception) and say that it ended."""
        self.out.put(item)
        self.ended.set()

    def cancel(self):
        self.cancelled.set()


class DecodeEngine:
    def __init__(self, model, *, eos_token_id, pad_token_id, max_batch=8):
        import torch

        self.torch = torch
        self.model = model
        self.eos = eos_token_id
        self.pad = pad_token_id if pad_token_id is not None else (eos_token_id or 0)
        self.max_batch = max(1, int(max_batch))
        self.incoming = queue.Queue()
        # transformers 5.x names the key/value cache argument `cache` (`past_key_values` before).
        self.cache_arg = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
        self.steps = 0  # decoding steps run (for /health and the bench)
        self.running = []
        threading.Thread(target=self._loop, daemon=True, name="decode-engine").start()

    def submit(self, req):
        sequence = Sequence(req, self.torch)
        self.incoming.put(sequence)
        return sequence

    # --- the loop --------------------------------------------------------------------------------

    def _loop(self):
        torch = self.torch
        cache = mask = None
        while True:
            newcomers = []
            if not self.running:
                newcomers.append(self.incoming.get())
            while len(self.running) + len(newcomers) < self.max_batch:
                try:
                    newcomers.append(self.incoming.get_nowait())
                except queue.Empty:
                    break
            newcomers = [s for s in newcomers if not self._dropped(s)]
            try:
                with torch.inference_mode():
                    if newcomers:
                        new_cache, new_mask, logits = self._prefill(newcomers)
                        cache, mask = self._join(cache, mask, new_cache, new_mask)
                        self.running = self.running + newcomers
                        rows = range(len(self.running) - len(newcomers), len(self.running))
                    elif self.running:
                        logits, cache, mask = self._decode(cache, mask)
                        rows = range(len(self.running))
                    else:
                        continue
                    self._sample(logits, [self.running[i] for i in rows])
                    cache, mask = self._leave(cache, mask)
            except Exception as exc:  # every live request gets the error; the engine keeps serving
                for sequence in self.running + newcomers:
                    sequence.end(exc)
                self.running, cache, mask = [], None, None

    def _dropped(self, sequence):
        if sequence.cancelled.is_set():
            sequence.end((END, "cancelled"))
            return True
        return False

    def _prefill(self, sequences):
        torch = self.torch
        width = max(len(s.ids) for s in sequences)
        ids = torch.tensor([[self.pad] * (width - len(s.ids)) + s.ids for s in sequences])
        mask = torch.tensor([[0] * (width - len(s.ids)) + [1] * len(s.ids) for s in sequences])
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=self._positions(mask), use_cache=True)
        return self._cache_of(out), mask, out.logits[:, -1, :]

    def _decode(self, cache, mask):
        torch = self.torch
        ids = torch.tensor([[s.pending] for s in self.running])
        mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=1)
        positions = (mask.sum(dim=1, keepdim=True) - 1).clamp(min=0)
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True,
                         **{self.cache_arg: cache})
        self.steps += 1
        return out.logits[:, -1, :], self._cache_of(out), mask

    def _cache_of(self, out):
        return out[self.cache_arg] if self.cache_arg in out else out["past_key_values"]

    def _positions(self, mask):
        positions = mask.cumsum(dim=1) - 1
        return positions.clamp(min=0)

    def _join(self, cache, mask, new_cache, new_mask):
        """The running batch with the prefilled newcomers appended as rows."""
        torch = self.torch
        if cache is None or not self.running:
            return new_cache, new_mask
        width = max(mask.shape[1], new_mask.shape[1])
        pad = torch.nn.functional.pad
        for old, new in zip(cache.layers, new_cache.layers):
            a, b = width - old.keys.shape[-2], width - new.keys.shape[-2]
            old.keys = torch.cat([pad(old.keys, (0, 0, a, 0)), pad(new.keys, (0, 0, b, 0))], dim=0)
            old.values = torch.cat([pad(old.values, (0, 0, a, 0)), pad(new.values, (0, 0, b, 0))], dim=0)
        mask = torch.cat([pad(mask, (width - mask.shape[1], 0)), pad(new_mask, (width - new_mask.shape[1], 0))], dim=0)
        return cache, mask

    def _sample(self, logits, sequences):
        """One token per sequence, each with its own settings; streamed at once; finished ones marked."""
        torch = self.torch
        logits = logits.float()
        greedy = logits.argmax(dim=-1).tolist()  # one call for every row; used by the greedy ones
        for row, best, sequence in zip(logits, greedy, sequences):
            if sequence.temperature <= 0:
                token = best
            else:
                probs = torch.softmax(row / sequence.temperature, dim=-1)
                if sequence.top_p < 1.0:
                    sorted_probs, order = probs.sort(descending=True)
                    # Keep the smallest set whose mass reaches top_p (always the most likely token).
                    drop = sorted_probs.cumsum(0) - sorted_probs > sequence.top_p
                    sorted_probs[drop] = 0
                    probs = torch.zeros_like(probs).scatter_(0, order, sorted_probs)
                token = int(torch.multinomial(probs, 1, generator=sequence.generator))
            if token == self.eos:
                sequence.end((END, "stop"))
                sequence.pending = None
                continue
            sequence.made += 1
            sequence.out.put(token)
            sequence.pending = token
            if sequence.made >= sequence.max_tokens:
                sequence.end((END, "length"))
                sequence.pending = None

    def _leave(self, cache, mask):
        """Drop finished and cancelled rows; cut columns that are padding in every remaining row."""
        torch = self.torch
        keep = []
        for index, sequence in enumerate(self.running):
            if sequence.pending is None:
                continue
            if sequence.cancelled.is_set():
                sequence.end((END, "cancelled"))
                continue
            keep.append(index)
        if len(keep) == len(self.running):
            return cache, mask
        self.running = [self.running[i] for i in keep]
        if not keep:
            return None, None
        rows = torch.tensor(keep)
        mask = mask[rows]
        lead = int((mask.cumsum(dim=1) == 0).sum(dim=1).min())
        for layer in cache.layers:
            layer.keys = layer.keys[rows, :, lead:, :]
            layer.values = layer.values[rows, :, lead:, :]
        return cache, mask[:, lead:]
