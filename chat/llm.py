"""Talking to chat models: OpenAI-compatible HTTP endpoints (chat.models.ChatBackend) and the
models served by the serving app (serving.services.chat_completion).

Both are used through `ChatModel.stream(messages)`, a generator of text pieces (after a
`Notice` when part of the conversation had to be left out to fit the model's window), with the
messages in OpenAI form ([{"role": "user"|"assistant"|"system", "content": "..."}]).
Endpoints are called with the `openai` client (streaming, its timeout, no retries).
"""

import math
import re
from dataclasses import dataclass, field

import openai

from core.errors import DomainError, InvalidInput


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


@dataclass
class Fitted:
    """The messages sent to the model, and what was left out to fit its window."""

    messages: list
    window: int
    dropped: int = 0  # earlier messages left out
    cut_from: int = 0  # the question's length in characters before its start was cut (0: not cut)
    dropped_system: bool = False

    @property
    def notice(self):
        """What was cut, in words, or "" when everything was sent."""
        parts = []
        if self.dropped:
            parts.append(f"{self.dropped} earlier message{'s were' if self.dropped != 1 else ' was'} left out")
        if self.dropped_system:
            parts.append("the system prompt was left out")
        if self.cut_from:
            kept = len(self.messages[-1]["content"]) if self.messages else 0
            parts.append(f"your message was cut to its last {kept:,} of {self.cut_from:,} characters")
        if not parts:
            return ""
        text = " and ".join(parts)
        return f"{text[0].upper()}{text[1:]} to fit the model's {self.window:,}-token window."


def fit(messages, window, reply_tokens, count=estimate_tokens):
    """The newest messages that fit `window - reply_tokens` tokens, oldest first, as a Fitted.

    A leading system message (the conversation's system prompt) is kept when it leaves room for
    the question. The last message (the question) is always kept; when it alone is too long, its
    start is cut so that its end (usually the actual question) stays.
    """
    budget = max(16, window - reply_tokens - PROMPT_RESERVE_TOKENS)
    system = [m for m in messages[:1] if m.get("role") == "system"]
    rest = messages[len(system):]
    dropped_system = False
    if system:
        system_cost = count(system[0]["content"]) + MESSAGE_OVERHEAD_TOKENS
        question_cost = count(rest[-1]["content"]) + MESSAGE_OVERHEAD_TOKENS if rest else 0
        if system_cost + min(question_cost, 16) > budget:
            system, dropped_system = [], True
        else:
            budget -= system_cost
    kept = []
    used = 0
    cut_from = 0
    for message in reversed(rest):
        cost = count(message["content"]) + MESSAGE_OVERHEAD_TOKENS
        if used + cost > budget:
            if not kept:
                tail = message["content"]
                while tail and count(tail) + MESSAGE_OVERHEAD_TOKENS > budget:
                    tail = tail[max(1, len(tail) // 4):]
                kept.append({**message, "content": tail})
                cut_from = len(message["content"])
            break
        kept.append(message)
        used += cost
    return Fitted(system + list(reversed(kept)), window, dropped=len(rest) - len(kept), cut_from=cut_from,
                  dropped_system=dropped_system)


def fit_to_window(messages, window, reply_tokens, count=estimate_tokens):
    """fit()'s messages only."""
    return fit(messages, window, reply_tokens, count).messages


@dataclass
class Notice:
    """Yielded by ChatModel.stream before the answer when part of the conversation was cut."""

    text: str


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

    def stream(self, messages, temperature=None):
        """The reply's text pieces, after a Notice when part of the conversation had to be left out.

        A prompt the model finds too long is cut shorter and sent again. `temperature`: the
        conversation's own, else the model's.
        """
        window = named = self.context_window  # named: the window the notice names (the model's own)
        temperature = self.temperature if temperature is None else temperature
        for attempt in range(RETRIES_WHEN_TOO_LONG + 1):
            fitted = fit(messages, window, self.max_tokens, self.count_tokens)
            try:
                pieces = self._open(fitted.messages, temperature)
            except PromptTooLong as exc:
                if attempt == RETRIES_WHEN_TOO_LONG:
                    raise
                smaller = self.max_tokens + max(16, (window - self.max_tokens) // 2)
                window = exc.limit if exc.limit and exc.limit < window else smaller
                named = min(named, exc.limit) if exc.limit else named
                continue
            fitted.window = named
            if fitted.notice:
                yield Notice(fitted.notice)
            yield from pieces
            return

    def _open(self, messages, temperature):
        """Start the request (errors about the prompt are raised here) and return its text pieces."""
        if self.backend is not None:
            return open_openai_compatible(self.backend, messages, self.max_tokens, temperature)
        return open_serving(self.user, self.serving_model, messages, self.max_tokens, temperature)


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


def _error_detail(exc):
    """The endpoint's own error message when it sent one, else the client's."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        message = error.get("message") if isinstance(error, dict) else error
        if isinstance(message, str) and message:
            return message
    return str(getattr(exc, "message", "") or exc)


def open_openai_compatible(backend, messages, max_tokens, temperature):
    """A streamed chat completion from an OpenAI-compatible endpoint, with the `openai` client.

    Raises PromptTooLong (a 400 about the context), ModelUnavailable 502 (any other error
    status, no connection, a timeout after backend.timeout_seconds); errors in the middle of
    the answer come out of the returned iterator as ModelUnavailable 502.
    """
    client = openai.OpenAI(
        base_url=backend.base_url.rstrip("/"),
        # Without a key no Authorization header is sent (the client wants a non-empty key).
        api_key=backend.api_key or "unused",
        timeout=backend.timeout_seconds,
        max_retries=0,
    )
    try:
        stream = client.chat.completions.create(
            model=backend.model_name, messages=messages, max_tokens=max_tokens, temperature=temperature, stream=True,
            extra_headers=None if backend.api_key else {"Authorization": openai.Omit()},
        )
    except openai.BadRequestError as exc:
        client.close()
        detail = _error_detail(exc)
        if re.search(r"context|too long|maximum|tokens", detail, re.I):
            raise PromptTooLong(f"model endpoint {backend.name}: {detail[:300]}") from exc
        raise ModelUnavailable(f"model endpoint {backend.name} answered 400: {detail[:300]}", status_code=502) from exc
    except openai.APIStatusError as exc:
        client.close()
        raise ModelUnavailable(
            f"model endpoint {backend.name} answered {exc.status_code}: {_error_detail(exc)[:300]}", status_code=502
        ) from exc
    except openai.APIConnectionError as exc:  # also APITimeoutError
        client.close()
        reason = exc.__cause__ or exc
        raise ModelUnavailable(f"model endpoint {backend.name} unreachable: {reason}", status_code=502) from exc
    return _stream_pieces(backend, client, stream)


def _stream_pieces(backend, client, stream):
    try:
        for chunk in stream:
            choices = chunk.choices or []
            text = choices[0].delta.content if choices and choices[0].delta is not None else None
            if text:
                yield text
    except openai.APIError as exc:  # an error event in the stream
        raise ModelUnavailable(f"model endpoint {backend.name}: {_error_detail(exc)[:300]}", status_code=502) from exc
    except Exception as exc:  # noqa: BLE001 - the connection broke (the client's transport errors are its own types)
        raise ModelUnavailable(f"model endpoint {backend.name} failed mid-answer: {exc}", status_code=502) from exc
    finally:
        stream.close()
        client.close()


def open_serving(user, model_name, messages, max_tokens, temperature):
    """A streamed answer of a served model (serving.services.chat_completion, no HTTP in between)."""
    from serving import services as serving_services

    try:
        chunks = serving_services.chat_completion(
            user=user, model=model_name, messages=messages, max_tokens=max_tokens, temperature=temperature,
            stream=True,
        )
    except InvalidInput as exc:
        if re.search(r"context length|too long", exc.message, re.I):
            raise PromptTooLong(exc.message) from exc
        raise
    return (text for text in (_delta_text(c) if isinstance(c, dict) else "" for c in chunks) if text)
