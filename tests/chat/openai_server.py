"""A real OpenAI-compatible chat server for tests: a tiny GPT-2 (hub.tiny_models) behind
POST /v1/chat/completions, streamed as server-sent events like vLLM or OpenAI answer.

It generates for real (sampling token by token); it also keeps the request bodies and
headers it received so that tests can check what the chat app sent.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class TinyChatModel:
    def __init__(self, folder):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModelForCausalLM.from_pretrained(folder).eval()
        self.window = self.model.config.n_positions
        self.lock = threading.Lock()

    def prompt_ids(self, messages):
        text = "\n".join(f"{m['role']}: {m['content']}" for m in messages) + "\nassistant:"
        return self.tokenizer(text)["input_ids"]

    def generate(self, ids, max_tokens, temperature):
        """Yield text pieces as tokens are sampled (the end-of-text token is held off at first)."""
        torch = self.torch
        generator = torch.Generator().manual_seed(0)
        ids = list(ids)
        new = []
        emitted = ""
        with self.lock, torch.no_grad():
            for step in range(max_tokens):
                if len(ids) >= self.window:
                    break
                logits = self.model(torch.tensor([ids])).logits[0, -1]
                if step < 3:
                    logits[self.tokenizer.eos_token_id] = -float("inf")
                if temperature > 0:
                    token = int(torch.multinomial(torch.softmax(logits / temperature, -1), 1, generator=generator))
                else:
                    token = int(logits.argmax())
                if token == self.tokenizer.eos_token_id:
                    break
                ids.append(token)
                new.append(token)
                text = self.tokenizer.decode(new)
                if text.endswith("\ufffd"):
                    continue  # half of a multi-byte character: wait for the rest
                if len(text) > len(emitted):
                    yield text[len(emitted):]
                    emitted = text


class OpenAICompatibleServer:
    def __init__(self, model, api_key=""):
        self.model = model
        self.api_key = api_key
        self.requests = []
        self.delay_s = 0.0  # a pause before each streamed piece (tests that stop an answer midway)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def answer_json(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                server.requests.append({"path": self.path, "body": body, "authorization": self.headers.get("Authorization")})
                if self.path != "/v1/chat/completions":
                    return self.answer_json(404, {"error": {"message": "not found"}})
                if server.api_key and self.headers.get("Authorization") != f"Bearer {server.api_key}":
                    return self.answer_json(401, {"error": {"message": "invalid api key"}})
                ids = server.model.prompt_ids(body["messages"])
                if len(ids) >= server.model.window:
                    message = (f"This model's maximum context length is {server.model.window} tokens, "
                               f"however your messages resulted in {len(ids)} tokens.")
                    return self.answer_json(400, {"error": {"message": message, "code": "context_length_exceeded"}})
                pieces = server.model.generate(ids, int(body.get("max_tokens", 16)), float(body.get("temperature", 0.7)))
                if not body.get("stream"):
                    text = "".join(pieces)
                    return self.answer_json(200, {"object": "chat.completion", "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]})
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                first = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"role": "assistant"}}]}
                self.wfile.write(f"data: {json.dumps(first)}\n\n".encode())
                for piece in pieces:
                    time.sleep(server.delay_s)
                    chunk = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": piece}}]}
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
