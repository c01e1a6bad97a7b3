"""One model-server replica: a small threaded HTTP server around one loaded model.

    python -m serving.replica --model-dir DIR --kind generate|embedding --port 0 \\
        [--base-dir DIR] [--port-file FILE] [--threads 1] [--batch-window-ms 5] [--max-batch 8]
        [--stream-interval-ms 0]

It binds first (port 0 picks a free port), writes {"port", "pid"} to --port-file, then
loads the model; /health answers 503 "loading" until the model is ready. No Django here:
the replica only needs torch and transformers, so it starts fast and stays small.

In the sandbox (core.sandbox) it has no network: the worker binds the listening socket and
hands it over with --listen-fd, and the bearer token with --token-fd; every request (/health
too) without that token is answered 401, so nothing else on the host can call a private model.

Routes:
- GET  /health   {"status": "ok"|"loading", "kind", "requests", "in_flight", "max_context", "pid"}
- POST /generate {"prompt" | "messages", "max_tokens", "temperature", "top_p", "stop", "stream"}
      -> {"text", "prompt_tokens", "completion_tokens", "finish_reason"}
      stream: newline-delimited JSON, {"text": delta} lines then {"done": true, ...counts}
- POST /embed    {"input": [texts]} -> {"data": [[floats]], "prompt_tokens"}
Errors: 4xx with {"error": {"message", "type", "param", "code"}} (the OpenAI shape).

Batching: every generation, streamed or not, goes through the replica's decoding loop
(serving.engine.DecodeEngine): one thread runs the model a decoding step at a time for all
running requests together (at most --max-batch); requests join between steps and leave when
they finish, each streaming its own tokens and sampling with its own settings and seed.
Embeddings go through one batcher thread: it takes what is queued, and while other requests
are still being read it waits up to --batch-window-ms for them, then runs them as one batch.
"""

import argparse
import hmac
import json
import os
import queue
import socket
import sys
import threading
import time
from concurrent.futures import Future
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from serving.engine import END, DecodeEngine

MAX_BODY = 4 * 1024 * 1024
MAX_BATCH_TEXTS = 256


class RequestError(Exception):
    def __init__(self, message, param=None, code=None, status=400):
        super().__init__(message)
        self.message, self.param, self.code, self.status = message, param, code, status

    def body(self):
        return {"error": {"message": self.message, "type": "invalid_request_error", "param": self.param, "code": self.code}}


def chat_prompt(tokenizer, messages):
    """The tokenizer's chat template when it has one, else "role: content" lines and "assistant:"."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    lines = [f"{m['role']}: {m['content']}" for m in messages]
    return "\n".join(lines) + "\nassistant:"


class Batcher:
    """Runs submitted items in batches on one thread; `key` groups items that can share a batch."""

    def __init__(self, run_batch, key, window_s, max_batch, busy):
        self.run_batch, self.key, self.window_s, self.max_batch, self.busy = run_batch, key, window_s, max_batch, busy
        self.items = queue.Queue()
        threading.Thread(target=self._loop, daemon=True, name="batcher").start()

    def submit(self, item):
        future = Future()
        self.items.put((item, future))
        return future.result()

    def _collect(self):
        batch = [self.items.get()]
        deadline = time.monotonic() + self.window_s
        while len(batch) < self.max_batch:
            try:
                batch.append(self.items.get_nowait())
                continue
            except queue.Empty:
                pass
            # Wait for more only while other requests are in flight (being read or queued).
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.busy() <= len(batch):
                break
            try:
                batch.append(self.items.get(timeout=min(remaining, 0.001)))
            except queue.Empty:
                pass
        return batch

    def _loop(self):
        while True:
            batch = self._collect()
            groups = {}
            for item, future in batch:
                groups.setdefault(self.key(item), []).append((item, future))
            for group in groups.values():
                try:
                    results = self.run_batch([item for item, _ in group])
                    for (_, future), result in zip(group, results):
                        future.set_result(result)
                except Exception as exc:  # every waiting request gets the error
                    for _, future in group:
                        future.set_exception(exc)


class Generator:
    kind = "generate"

    def __init__(self, model_dir, base_dir=None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        model_dir = Path(model_dir)
        if (model_dir / "adapter_config.json").exists():
            from peft import PeftModel

            if not base_dir:
                raise SystemExit("a LoRA adapter needs --base-dir")
            base = AutoModelForCausalLM.from_pretrained(base_dir)
            # Merged once at load: the adapter's effect, at the base model's speed.
            self.model = PeftModel.from_pretrained(base, str(model_dir)).merge_and_unload()
            has_tokenizer = (model_dir / "tokenizer_config.json").exists()
            self.tokenizer = AutoTokenizer.from_pretrained(model_dir if has_tokenizer else base_dir)
        else:
            self.model = AutoModelForCausalLM.from_pretrained(model_dir)
            self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model.eval()
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "left"
        config = self.model.config
        self.max_context = int(
            getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None) or 2048
        )

    def prepare(self, body):
        """Validated request -> dict with the prompt's ids and the sampling settings."""
        if "messages" in body and body["messages"] is not None:
            prompt = chat_prompt(self.tokenizer, body["messages"])
        else:
            prompt = body.get("prompt")
        if not isinstance(prompt, str):
            raise RequestError("prompt must be a string", param="prompt")
        ids = self.tokenizer(prompt)["input_ids"]
        if not ids:
            ids = [self.tokenizer.eos_token_id]
        if len(ids) >= self.max_context:
            raise RequestError(
                f"This model's maximum context length is {self.max_context} tokens, "
                f"however the prompt has {len(ids)} tokens.",
                param="messages" if "messages" in body else "prompt",
                code="context_length_exceeded",
            )
        max_tokens = int(body.get("max_tokens") or 16)
        # Clamped to what the context leaves; finish_reason "length" then says so.
        max_tokens = max(1, min(max_tokens, self.max_context - len(ids)))
        stop = body.get("stop") or []
        if isinstance(stop, str):
            stop = [stop]
        return {
            "ids": ids,
            "max_tokens": max_tokens,
            "temperature": float(body.get("temperature", 1.0) if body.get("temperature") is not None else 1.0),
            "top_p": float(body.get("top_p", 1.0) if body.get("top_p") is not None else 1.0),
            "stop": [s for s in stop if s],
            "seed": body.get("seed"),
        }

    def _sampling(self, req):
        if req["temperature"] <= 0:
            return {"do_sample": False}
        return {"do_sample": True, "temperature": req["temperature"], "top_p": req["top_p"]}

    @staticmethod
    def batch_key(req):
        return (round(req["temperature"], 4), round(req["top_p"], 4))

    def _finish(self, req, tokens):
        """Cut at end-of-text, the token limit and stop strings; -> (text, n_tokens, finish_reason)."""
        eos = self.tokenizer.eos_token_id
        reason = "length"
        if eos in tokens:
            tokens = tokens[: tokens.index(eos)]
            reason = "stop"
        if len(tokens) >= req["max_tokens"]:
            tokens = tokens[: req["max_tokens"]]
        text = self.tokenizer.decode(tokens, skip_special_tokens=True)
        for stop in req["stop"]:
            at = text.find(stop)
            if at >= 0:
                text, reason = text[:at], "stop"
        return text, len(tokens), reason

    def generate_batch(self, reqs):
        torch = self.torch
        width = max(len(r["ids"]) for r in reqs)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(r["ids"])) + r["ids"] for r in reqs])
        mask = torch.tensor([[0] * (width - len(r["ids"])) + [1] * len(r["ids"]) for r in reqs])
        if reqs[0].get("seed") is not None and len(reqs) == 1:
            torch.manual_seed(int(reqs[0]["seed"]))
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids,
                attention_mask=mask,
                max_new_tokens=max(r["max_tokens"] for r in reqs),
                pad_token_id=pad,
                **self._sampling(reqs[0]),
            )
        results = []
        for row, req in zip(out, reqs):
            text, n, reason = self._finish(req, row[width:].tolist())
            results.append({"text": text, "prompt_tokens": len(req["ids"]), "completion_tokens": n, "finish_reason": reason})
        return results

    def start_engine(self, max_batch, stream_interval_s=0.0):
        """The replica's decoding loop (serving.engine): every generation goes through it."""
        self.stream_interval_s = max(0.0, float(stream_interval_s))
        self.engine = DecodeEngine(self.model, eos_token_id=self.tokenizer.eos_token_id,
                                   pad_token_id=self.tokenizer.pad_token_id, max_batch=max_batch)
        return self

    def submit(self, req):
        """A whole (non-streamed) generation: {"text", "prompt_tokens", "completion_tokens", "finish_reason"}."""
        parts, done = [], {}
        for event in self.stream(req):
            if event.get("done"):
                done = event
            else:
                parts.append(event["text"])
        return {"text": "".join(parts), "prompt_tokens": done["prompt_tokens"],
                "completion_tokens": done["completion_tokens"], "finish_reason": done["finish_reason"]}

    def stream(self, req):
        """Yields {"text": delta} dicts as the engine makes tokens, then a {"done": true, ...} summary."""
        sequence = self.engine.submit(req)
        tokens, outcome = [], {}
        try:
            yield from self._deltas(req, sequence, tokens, outcome)
        finally:
            sequence.cancel()  # a stop string, or the client went away: the engine drops it before its next step
        yield {"done": True, "finish_reason": outcome.get("reason", "length"), "prompt_tokens": len(req["ids"]),
               "completion_tokens": len(tokens)}

    def _deltas(self, req, sequence, tokens, outcome):
        tokens_out, interval = sequence.out, getattr(self, "stream_interval_s", 0.0)
        sent, reason, ended, last = "", None, False, None
        while not ended:
            if last is not None and interval:
                # At most one delta per interval after the first: the tokens made meanwhile go out
                # together, so 8 streams cost 8 writes per interval, not 8 per decoding step. The end
                # of the sequence is not held back.
                wait = last + interval - time.monotonic()
                if wait > 0:
                    sequence.ended.wait(wait)
            # Every token made so far: one when the reader keeps up, several when it is behind (a busy
            # host, a slow client); they then go out as one delta, so a stream never falls further back.
            items = [tokens_out.get(timeout=600)]
            while True:
                try:
                    items.append(tokens_out.get_nowait())
                except queue.Empty:
                    break
            made = len(tokens)
            for item in items:
                if isinstance(item, Exception):
                    raise item
                if isinstance(item, tuple) and item[0] is END:
                    reason = item[1] if item[1] != "cancelled" else reason
                    ended = True
                    break
                tokens.append(item)
            if len(tokens) == made:
                continue
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            if text.endswith("\ufffd"):
                continue  # half of a multi-byte character: wait for the rest
            for stop in req["stop"]:
                at = text.find(stop)
                if at >= 0:
                    text, reason = text[:at], "stop"
            if len(text) > len(sent):
                yield {"text": text[len(sent):]}
                sent, last = text, time.monotonic()
            if reason:
                break
        outcome["reason"] = reason or "length"


class Embedder:
    kind = "embedding"

    def __init__(self, model_dir, base_dir=None):
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.torch = torch
        model_dir = Path(model_dir)
        self.model = AutoModel.from_pretrained(model_dir).eval()
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.max_context = int(getattr(self.model.config, "max_position_embeddings", 512))
        self.max_length = self.max_context
        st_config = model_dir / "sentence_bert_config.json"
        if st_config.exists():
            self.max_length = int(json.loads(st_config.read_text()).get("max_seq_length") or self.max_length)
        modules = model_dir / "modules.json"
        self.normalize = modules.exists() and "Normalize" in modules.read_text()

    @staticmethod
    def batch_key(req):
        return "embed"

    def embed_batch(self, reqs):
        """reqs: [{"texts": [...]}] -> [{"data": [[...]], "prompt_tokens"}] (mean pooling over the mask)."""
        torch = self.torch
        texts = [t for r in reqs for t in r["texts"]]
        encoded = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        with torch.inference_mode():
            hidden = self.model(**encoded).last_hidden_state
        mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        vectors = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        if self.normalize:
            vectors = torch.nn.functional.normalize(vectors, p=2, dim=1)
        counts = encoded["attention_mask"].sum(1).tolist()
        results, at = [], 0
        for r in reqs:
            n = len(r["texts"])
            results.append({"data": vectors[at : at + n].tolist(), "prompt_tokens": int(sum(counts[at : at + n]))})
            at += n
        return results


class State:
    def __init__(self):
        self.engine = None
        self.batcher = None
        self.error = ""
        self.requests = 0
        self.in_flight = 0
        self.lock = threading.Lock()
        self.token = ""


def make_handler(state, kind):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"
        server_version = "crucible-replica"

        def log_message(self, fmt, *args):  # one line per request is noise at this rate
            pass

        def _json(self, status, data):
            raw = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _body(self):
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                raise RequestError("request body too large", status=413)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                raise RequestError("the body must be JSON") from None
            if not isinstance(body, dict):
                raise RequestError("the body must be a JSON object")
            return body

        def _authorized(self):
            """Every request carries the replica's bearer token (only the gateway knows it)."""
            if not state.token:
                return True
            given = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
            if hmac.compare_digest(given.encode(), state.token.encode()):
                return True
            self._json(401, RequestError("a valid replica token is required", code="unauthorized", status=401).body())
            return False

        def do_GET(self):
            if not self._authorized():
                return
            if self.path != "/health":
                return self._json(404, RequestError("no such route", status=404).body())
            engine = state.engine
            self._json(
                200 if engine else 503,
                {
                    "status": "ok" if engine else ("failed" if state.error else "loading"),
                    "error": state.error,
                    "kind": kind,
                    "requests": state.requests,
                    "in_flight": state.in_flight,
                    "max_context": getattr(engine, "max_context", None),
                    "pid": os.getpid(),
                },
            )

        def do_POST(self):
            if not self._authorized():
                return
            with state.lock:
                state.requests += 1
                state.in_flight += 1
            try:
                self._post()
            except RequestError as exc:
                self._json(exc.status, exc.body())
            except (BrokenPipeError, ConnectionResetError):
                pass
            except Exception as exc:
                self._json(500, {"error": {"message": f"{type(exc).__name__}: {exc}", "type": "server_error",
                                           "param": None, "code": None}})
            finally:
                with state.lock:
                    state.in_flight -= 1

        def _post(self):
            body = self._body()
            engine = state.engine
            if engine is None:
                raise RequestError("the model is still loading", code="loading", status=503)
            if self.path == "/generate" and kind == "generate":
                req = engine.prepare(body)
                if body.get("stream"):
                    return self._stream(engine.stream(req))
                return self._json(200, state.batcher.submit(req))
            if self.path == "/embed" and kind == "embedding":
                texts = body.get("input")
                if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
                    raise RequestError("input must be a non-empty list of strings", param="input")
                if len(texts) > MAX_BATCH_TEXTS:
                    raise RequestError(f"at most {MAX_BATCH_TEXTS} inputs per request", param="input")
                return self._json(200, state.batcher.submit({"texts": texts}))
            raise RequestError(f"{self.path} is not served by a {kind} replica", status=404)

        def _stream(self, events):
            first = next(events)  # errors before the first token still get a proper status
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.end_headers()
            for event in _chain(first, events):
                self.wfile.write(json.dumps(event).encode() + b"\n")
                self.wfile.flush()

    return Handler


def _chain(first, rest):
    yield first
    yield from rest


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--base-dir", default="")
    parser.add_argument("--kind", choices=["generate", "embedding"], required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file", default="")
    parser.add_argument("--listen-fd", type=int, default=-1, help="an inherited listening socket (the sandbox's only network)")
    parser.add_argument("--token-fd", type=int, default=-1, help="read the bearer token every request must carry from this fd")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-window-ms", type=float, default=5.0)
    parser.add_argument("--max-batch", type=int, default=8)
    parser.add_argument("--stream-interval-ms", type=float, default=0.0,
                        help="after a stream's first delta, at most one delta per this many ms (0: one per token)")
    args = parser.parse_args(argv)

    state = State()
    if args.token_fd >= 0:
        with os.fdopen(args.token_fd, "r") as handle:
            state.token = handle.read().strip()
    if args.listen_fd >= 0:
        server = ThreadingHTTPServer(("", 0), make_handler(state, args.kind), bind_and_activate=False)
        server.socket.close()
        server.socket = socket.socket(fileno=args.listen_fd)
        server.server_address = server.socket.getsockname()[:2]
        args.host = server.server_address[0]
    else:
        server = ThreadingHTTPServer((args.host, args.port), make_handler(state, args.kind))
    server.daemon_threads = True
    port = server.server_address[1]
    if args.port_file:
        tmp = Path(args.port_file + ".tmp")
        tmp.write_text(json.dumps({"port": port, "pid": os.getpid()}))
        tmp.replace(args.port_file)
    threading.Thread(target=server.serve_forever, daemon=True, name="http").start()
    print(f"replica pid {os.getpid()} listening on {args.host}:{port}, loading {args.model_dir}", flush=True)

    try:
        import torch

        torch.set_num_threads(max(1, args.threads))
        engine_class = Generator if args.kind == "generate" else Embedder
        engine = engine_class(args.model_dir, args.base_dir or None)
        if args.kind == "generate":
            state.batcher = engine.start_engine(args.max_batch, args.stream_interval_ms / 1000)  # continuous batching (serving.engine)
        else:
            state.batcher = Batcher(engine.embed_batch, engine.batch_key, args.batch_window_ms / 1000,
                                    args.max_batch, busy=lambda: state.in_flight)
        state.engine = engine
    except BaseException as exc:
        state.error = f"{type(exc).__name__}: {exc}"
        print(f"loading failed: {state.error}", flush=True)
        server.shutdown()
        sys.exit(3)
    print(f"ready: {args.kind} model, context {engine.max_context}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
