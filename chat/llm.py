"""Talking to chat models: OpenAI-compatible HTTP endpoints (chat.models.ChatBackend) and the
models served by the serving app (serving.services.chat_completion).

Both are used through `ChatModel.stream(messages)`, a generator of text pieces, with the
messages in OpenAI form ([{"role": "user"|"assistant"|"system", "content": "..."}]).
"""

import json
import math
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from core.errors import DomainError, InvalidInput

SSE_MAX_LINE = 1024 * 1024


class ModelUnavailable(DomainError):
    """No model can answer, or the chosen one failed. The user's message is kept."""

    status_code = 503
    exception = "UnavailableException"


def estimate_tokens(text):
    """A rough token count: one token per 3 bytes of UTF-8.

    English runs about 4 characters a token, Chinese about 1 to 1.5 tokens a character
    (3 bytes), so this errs on the safe side for both without loading a tokenizer.
    """
    return math.ceil(len(text.encode("utf-8")) / 3)


MESSAGE_OVERHEAD_TOKENS = 4  # role markers and separators of a chat template, per message
PROMPT_RESERVE_TOKENS = 8  # the template's start and the assistant's cue
RETRIES_WHEN_TOO_LONG = 3


class PromptTooLong(InvalidInput):
    """The model refused the prompt as longer than its context (`limit`: the context it named)."""

    def __init__(self, message):
        super().__init__(message)
        found = re.search(r"maximum context length is (\d+)", message)
        self.limit = int(found.group(1)) if found else None


def fit_to_window(messages, window, reply_tokens, count=estimate_tokens):
    """The newest messages that fit `window - reply_tokens` tokens, oldest first.

    The last message (the question) is always kept; when it alone is too long, its start is
    cut so that its end (usually the actual question) stays.
    """
    budget = max(16, window - reply_tokens - PROMPT_RESERVE_TOKENS)
    kept = []
    used = 0
    for message in reversed(messages):
        cost = count(message["content"]) + MESSAGE_OVERHEAD_TOKENS
        if used + cost > budget:
            if not kept:
                tail = message["content"]
                while tail and count(tail) + MESSAGE_OVERHEAD_TOKENS > budget:
                    tail = tail[max(1, len(tail) // 4):]
                kept.append({**message, "content": tail})
            break
        kept.append(message)
        used += cost
    return list(reversed(kept))


@dataclass
class ChatModel:
    key: str  # "backend:<name>" or "serving:<name>"
    label: str
    context_window: int
    max_tokens: int
    temperature: float = 0.7
    backend: object = field(default=None, repr=False)  # a ChatBackend, for HTTP endpoints
    serving_model: str = ""  # the served model's name, for the serving app
    user: object = field(default=None, repr=False)
    count_tokens: object = field(default=estimate_tokens, repr=False)  # the model's tokenizer when known

    def stream(self, messages):
        """The reply's text pieces. A prompt the model finds too long is cut shorter and sent again."""
        window = self.context_window
        for attempt in range(RETRIES_WHEN_TOO_LONG + 1):
            fitted = fit_to_window(messages, window, self.max_tokens, self.count_tokens)
            try:
                yield from self._stream(fitted)
                return
            except PromptTooLong as exc:
                if attempt == RETRIES_WHEN_TOO_LONG:
                    raise
                smaller = self.max_tokens + max(16, (window - self.max_tokens) // 2)
                window = exc.limit if exc.limit and exc.limit < window else smaller

    def _stream(self, messages):
        if self.backend is not None:
            return stream_openai_compatible(self.backend, messages, self.max_tokens, self.temperature)
        return stream_serving(self.user, self.serving_model, messages, self.max_tokens, self.temperature)


def _delta_text(chunk):
    choices = chunk.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        return ""
    choice = choices[0]
    delta = choice.get("delta") or choice.get("message") or {}
    text = delta.get("content") if isinstance(delta, dict) else None
    if text is None:
        text = choice.get("text")  # completions-style chunks
    return text if isinstance(text, str) else ""


def iter_sse_data(lines):
    """The `data:` payloads of a server-sent event stream (bytes lines), joined per event."""
    data = []
    for raw in lines:
        if len(raw) > SSE_MAX_LINE:
            raise ModelUnavailable("the model endpoint sent an oversized event", status_code=502)
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if name == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)


def stream_openai_compatible(backend, messages, max_tokens, temperature):
    url = backend.base_url.rstrip("/") + "/chat/completions"
    payload = {
        "model": backend.model_name,
        "messages": messages,
        "max_tokens": max_tokens,
        "temperature": temperature,
        "stream": True,
    }
    headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
    if backend.api_key:
        headers["Authorization"] = f"Bearer {backend.api_key}"
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), headers=headers, method="POST")
    try:
        response = urllib.request.urlopen(request, timeout=backend.timeout_seconds)  # noqa: S310 (admin-set URL)
    except urllib.error.HTTPError as exc:
        detail = exc.read(2000).decode("utf-8", errors="replace")
        if exc.code == 400 and re.search(r"context|too long|maximum|tokens", detail, re.I):
            raise PromptTooLong(f"model endpoint {backend.name}: {detail[:300]}")
        raise ModelUnavailable(f"model endpoint {backend.name} answered {exc.code}: {detail[:300]}", status_code=502)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ModelUnavailable(f"model endpoint {backend.name} unreachable: {reason}", status_code=502)
    with response:
        content_type = response.headers.get("Content-Type", "")
        try:
            if "text/event-stream" not in content_type:
                # A server that ignores "stream": one chat.completion document.
                yield _delta_text(json.loads(response.read(16 * 1024 * 1024) or b"{}"))
                return
            for data in iter_sse_data(response):
                if data.strip() == "[DONE]":
                    return
                try:
                    chunk = json.loads(data)
                except json.JSONDecodeError:
                    raise ModelUnavailable(f"model endpoint {backend.name} sent invalid JSON", status_code=502)
                if isinstance(chunk, dict) and chunk.get("error"):
                    raise ModelUnavailable(f"model endpoint {backend.name}: {chunk['error']}", status_code=502)
                text = _delta_text(chunk) if isinstance(chunk, dict) else ""
                if text:
                    yield text
        except (OSError, ValueError) as exc:
            raise ModelUnavailable(f"model endpoint {backend.name} failed mid-answer: {exc}", status_code=502)


def stream_serving(user, model_name, messages, max_tokens, temperature):
    from serving import services as serving_services

    first = True
    try:
        chunks = serving_services.chat_completion(
            user=user, model=model_name, messages=messages, max_tokens=max_tokens, temperature=temperature,
            stream=True,
        )
        for chunk in chunks:
            first = False
            text = _delta_text(chunk) if isinstance(chunk, dict) else ""
            if text:
                yield text
    except InvalidInput as exc:
        if first and re.search(r"context length|too long", exc.message, re.I):
            raise PromptTooLong(exc.message) from exc
        raise
