"""One login throttle for every way in, on Django's cache.

Every login and registration attempt (hub and chat facades, /api/v1/auth/token/, the SGT
key endpoints, the login and register pages, the admin login) counts against one bucket
per client address, at the rate `AUTH_THROTTLE_RATE` (REST_FRAMEWORK "auth"). And every
failed password check (Django's `user_login_failed` signal, sent by `authenticate()` on
every path) counts against the username: `LOGIN_LOCKOUT_FAILURES` failures within
`LOGIN_LOCKOUT_WINDOW_SECONDS` lock that username for `LOGIN_LOCKOUT_SECONDS`, whatever the
address, the right password included.

The client address is REMOTE_ADDR; `X-Forwarded-For` counts only when
`TRUSTED_PROXY_COUNT` says how many proxies in front of Crucible append to it (then the
address that many entries from the right is the client's). See docs/accounts.md.
"""

import hashlib
import time

from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.core.cache import cache
from django.dispatch import receiver
from rest_framework import exceptions
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class LoginThrottled(Exception):
    def __init__(self, message, wait):
        super().__init__(message)
        self.message = message
        self.wait = max(1, int(wait + 0.999))


def client_address(request):
    """The caller's address: REMOTE_ADDR, or from X-Forwarded-For behind TRUSTED_PROXY_COUNT proxies."""
    remote = request.META.get("REMOTE_ADDR", "") or "unknown"
    proxies = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies <= 0 or not forwarded:
        return remote
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    if not hops:
        return remote
    return hops[-min(proxies, len(hops))]


def auth_rate():
    """(requests, seconds) of the shared "auth" rate, read at call time."""
    rate = api_settings.DEFAULT_THROTTLE_RATES.get("auth") or "20/min"
    count, _, period = rate.partition("/")
    return int(count), PERIODS[period.strip()[:1]]


def _digest(value):
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def _account_key(username):
    return _digest(username.strip().lower()[:150])


def _recent(key, period, now):
    return [stamp for stamp in cache.get(key, []) if stamp > now - period]


def _hit(key, limit, period, now):
    """Count one event in a sliding window; the seconds to wait when over `limit`, else None."""
    history = _recent(key, period, now)
    if len(history) >= limit:
        return period - (now - history[0])
    history.append(now)
    cache.set(key, history, period)
    return None


def lock_remaining(username):
    """Seconds the account stays locked (0: not locked)."""
    if not isinstance(username, str) or not username.strip():
        return 0
    until = cache.get(f"login-lock:{_account_key(username)}")
    return max(0, until - time.time()) if until else 0


def guard(request, username=""):
    """Call before every login or registration attempt. Raises LoginThrottled when the
    client address is over the rate or the account is locked."""
    now = time.time()
    remaining = lock_remaining(username)
    if remaining:
        raise LoginThrottled(
            "Throttled: too many failed logins for this account, which is locked for a while.", remaining
        )
    limit, period = auth_rate()
    wait = _hit(f"login-addr:{_digest(client_address(request))}", limit, period, now)
    if wait is not None:
        raise LoginThrottled("Throttled: too many login or registration attempts from your address.", wait)


def record_failure(username):
    if not isinstance(username, str) or not username.strip() or lock_remaining(username):
        return
    now = time.time()
    key = _account_key(username)
    window = settings.LOGIN_LOCKOUT_WINDOW_SECONDS
    failures = _recent(f"login-failures:{key}", window, now) + [now]
    if len(failures) >= settings.LOGIN_LOCKOUT_FAILURES:
        cache.set(f"login-lock:{key}", now + settings.LOGIN_LOCKOUT_SECONDS, settings.LOGIN_LOCKOUT_SECONDS)
        cache.delete(f"login-failures:{key}")
    else:
        cache.set(f"login-failures:{key}", failures, window)


@receiver(user_login_failed)
def _count_failed_login(sender, credentials, request=None, **kwargs):
    username = credentials.get("username") if isinstance(credentials, dict) else None
    record_failure(username)


class LoginThrottle(BaseThrottle):
    """The DRF face of `guard`: the facades' login and registration views and the token view."""

    def allow_request(self, request, view):
        try:
            data = request.data
        except Exception:
            # A body that does not parse still counts as an attempt; then its own 4xx.
            self._guard(request, "")
            raise
        value = data.get("username") if hasattr(data, "get") else None
        self._guard(request, value if isinstance(value, str) else "")
        return True

    @staticmethod
    def _guard(request, username):
        try:
            guard(request, username)
        except LoginThrottled as exc:
            raise exceptions.Throttled(wait=exc.wait, detail=exc.message) from exc
