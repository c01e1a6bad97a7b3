import copy
import hashlib
import hmac
import io
import re
import secrets
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from PIL import Image, UnidentifiedImageError

from core.errors import AuthError, Conflict, Forbidden, InvalidInput, NotFound, TooLarge

from .models import ApiKey, ApiKeyScope, Role, Team, TeamInvitation
from .system_key import off_reason as system_key_off_reason
from .system_key import system_key as current_system_key
from .tokens import VersionedRefreshToken

User = get_user_model()

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@+-]{3,64}\Z")
TEAM_MAX = 100
SYSTEM_USER_PREFIX = "sgt-"


# --- users -----------------------------------------------------------------


def validate_username(username):
    """Raise InvalidInput or Conflict unless `username` can be registered."""
    if not isinstance(username, str) or not username:
        raise InvalidInput("username is required")
    if not USERNAME_RE.match(username):
        raise InvalidInput("username must be 3-64 characters: letters, digits and _ . @ + -")
    if username.lower().startswith(SYSTEM_USER_PREFIX):
        # Accounts named sgt-<secret_id> are created by the SGT system call for its keys.
        raise InvalidInput(f"usernames starting with {SYSTEM_USER_PREFIX!r} are reserved")
    if User.objects.filter(username__iexact=username).exists():
        raise Conflict("username is already taken")
    return username


def validate_new_password(password, username=""):
    if not isinstance(password, str) or not password:
        raise InvalidInput("password is required")
    if len(password) > 128:
        raise InvalidInput("password must be at most 128 characters")
    try:
        password_validation.validate_password(password, User(username=username))
    except ValidationError as exc:
        raise InvalidInput("password: " + " ".join(exc.messages)) from exc


def process_avatar(upload):
    """Validate an uploaded image with Pillow and return a square PNG thumbnail."""
    if upload.size > settings.AVATAR_MAX_BYTES:
        raise TooLarge(f"avatar must be at most {settings.AVATAR_MAX_BYTES // 1024} KB")
    try:
        upload.seek(0)
        with Image.open(upload) as probe:
            probe.verify()
        upload.seek(0)
        with Image.open(upload) as image:
            if image.width * image.height > 40_000_000:
                raise InvalidInput("avatar image has too many pixels")
            image = image.convert("RGBA")
            side = min(image.size)
            left = (image.width - side) // 2
            top = (image.height - side) // 2
            image = image.crop((left, top, left + side, top + side))
            image.thumbnail((settings.AVATAR_SIZE, settings.AVATAR_SIZE))
            out = io.BytesIO()
            image.save(out, format="PNG")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, SyntaxError, ValueError) as exc:
        raise InvalidInput("avatar is not a valid image") from exc
    return ContentFile(out.getvalue(), name=f"{secrets.token_hex(16)}.png")


REGISTRATION_CLOSED = "registration is closed: ask an administrator for an account"
AWAITING_APPROVAL = "this account is waiting for an administrator's approval; try again once it is approved"


def ensure_registration_open():
    """Raise Forbidden when settings.REGISTRATION is "closed" (self-service registration)."""
    if settings.REGISTRATION == "closed":
        raise Forbidden(REGISTRATION_CLOSED)


def awaiting_approval(username, password):
    """True for a registered account not yet approved (inactive, never logged in), right password given."""
    if not isinstance(username, str) or not isinstance(password, str) or not username:
        return False
    user = User.objects.filter(username=username, is_active=False, last_login__isnull=True).first()
    return user is not None and user.check_password(password)


def register_user(*, username, password, team_name="", avatar=None, role=Role.RESEARCHER, self_service=True):
    """Create an account. Self-service registration follows settings.REGISTRATION (closed: Forbidden;
    approval: the account is inactive until an admin activates it); admins and seeds pass self_service=False.
    `team_name` (the hub spec's registration field) is checked for length and otherwise ignored:
    teams are managed by administrators, never joined by naming them (a team opens its members'
    experiment runs to each other)."""
    if self_service:
        ensure_registration_open()
    validate_username(username)
    validate_new_password(password, username)
    team_name = (team_name or "").strip()
    if len(team_name) > TEAM_MAX:
        raise InvalidInput(f"team must be at most {TEAM_MAX} characters")
    avatar_file = process_avatar(avatar) if avatar else None
    try:
        with transaction.atomic():
            user = User(username=username, role=role, is_active=not (self_service and settings.REGISTRATION == "approval"))
            user.set_password(password)
            if avatar_file:
                user.avatar.save(avatar_file.name, avatar_file, save=False)
            user.save()
    except IntegrityError as exc:
        raise Conflict("username is already taken") from exc
    return user


def update_profile(user, *, avatar=None):
    """What a user changes on their own profile: the avatar. The team is not theirs to set:
    administrators put users in teams (Django admin)."""
    if avatar is not None:
        avatar_file = process_avatar(avatar)
        old = user.avatar.name if user.avatar else ""
        user.avatar.save(avatar_file.name, avatar_file, save=False)
        if old:
            user.avatar.storage.delete(old)
    user.save()
    return user


# --- teams -------------------------------------------------------------------------


def invite_to_team(*, actor, team_name, username):
    """A team admin (or a platform admin) invites `username` into the team; the invited
    user joins only by accepting. Returns the invitation."""
    team = Team.objects.filter(name=team_name).first() if isinstance(team_name, str) else None
    if team is None or not (actor.is_platform_admin or team.admins.filter(pk=actor.pk).exists()):
        # Same answer for a missing team and someone else's: names of teams are not probed.
        raise NotFound("no team of which you are an admin has this name")
    invitee = User.objects.filter(username=username).first() if isinstance(username, str) else None
    if invitee is None:
        raise NotFound("username does not name a user")
    if invitee.team_id == team.pk:
        raise Conflict(f"{invitee.username} is already in {team.name}")
    invitation, _ = TeamInvitation.objects.get_or_create(team=team, user=invitee, defaults={"invited_by": actor})
    return invitation


def accept_team_invitation(*, user, invitation_id):
    """The invited user joins the team (leaving their current one)."""
    with transaction.atomic():
        invitation = TeamInvitation.objects.select_for_update().filter(pk=invitation_id, user=user).first()
        if invitation is None:
            raise NotFound("no invitation of yours has this id")
        user.team = invitation.team
        user.save(update_fields=["team"])
        invitation.delete()
    return user


def withdraw_team_invitation(*, actor, invitation_id):
    """The invited user declines, or an admin of the team withdraws the invitation."""
    invitation = TeamInvitation.objects.select_related("team").filter(pk=invitation_id).first()
    allowed = invitation is not None and (
        invitation.user_id == actor.pk
        or actor.is_platform_admin
        or invitation.team.admins.filter(pk=actor.pk).exists()
    )
    if not allowed:
        raise NotFound("no invitation of yours or of your team has this id")
    invitation.delete()


def login_with_password(username, password):
    if not isinstance(username, str) or not username or not isinstance(password, str) or not password:
        raise InvalidInput("username and password are required")
    user = authenticate(username=username, password=password)
    if user is None:
        if awaiting_approval(username, password):
            raise AuthError(AWAITING_APPROVAL)
        raise AuthError("wrong username or password")
    return user


def issue_tokens(user):
    """(access, refresh) JWTs carrying the user's token version (accounts.tokens)."""
    refresh = VersionedRefreshToken.for_user(user)
    return str(refresh.access_token), str(refresh)


def sign_out_everywhere(*, user):
    """End every session and make every JWT issued so far invalid (token_version + 1).
    API keys are not touched: they are revoked one by one."""
    User.objects.filter(pk=user.pk).update(token_version=F("token_version") + 1)
    user.refresh_from_db(fields=["token_version"])
    return user


# --- API keys ----------------------------------------------------------------

LAST_USED_PRECISION = timedelta(minutes=1)
SECRET_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{3,128}\Z")
MIN_SECRET_KEY = 16


def hash_secret_key(secret_key, salt=None):
    # Keys are long random strings (or at least MIN_SECRET_KEY chars), so a salted
    # SHA-256 is enough and keeps per-request key checks fast.
    salt = salt or secrets.token_hex(8)
    digest = hashlib.sha256(f"{salt}${secret_key}".encode()).hexdigest()
    return f"sha256${salt}${digest}"


def secret_key_matches(secret_key, stored):
    try:
        algorithm, salt, _ = stored.split("$", 2)
    except ValueError:
        return False
    return algorithm == "sha256" and hmac.compare_digest(hash_secret_key(secret_key, salt), stored)


def _validate_key_fields(secret_id, secret_key, description, end_time, *, past_end_allowed=False):
    if not isinstance(secret_id, str) or not SECRET_ID_RE.match(secret_id):
        raise InvalidInput("secret_id must be 3-128 characters: letters, digits and _ . -")
    if not isinstance(secret_key, str) or not (MIN_SECRET_KEY <= len(secret_key) <= 256):
        raise InvalidInput(f"secret_key must be {MIN_SECRET_KEY}-256 characters")
    if not isinstance(description, str) or len(description) > 500:
        raise InvalidInput("doc must be a string of at most 500 characters")
    if end_time is not None and end_time <= timezone.now() and not past_end_allowed:
        raise InvalidInput("end_time must be in the future")


def create_api_key(user, *, description="", end_time=None, secret_id=None, secret_key=None):
    """Create a key for `user`; returns (ApiKey, plaintext secret key). The plaintext is shown once.

    A key the account's owner makes works on every API (scope "all")."""
    secret_id = secret_id or f"ck_{secrets.token_hex(8)}"
    secret_key = secret_key or secrets.token_urlsafe(32)
    _validate_key_fields(secret_id, secret_key, description, end_time)
    if ApiKey.objects.filter(secret_id=secret_id).exists():
        raise Conflict("secret_id is already in use")
    key = ApiKey.objects.create(
        user=user,
        secret_id=secret_id,
        secret_key_hash=hash_secret_key(secret_key),
        description=description,
        end_time=end_time,
        scope=ApiKeyScope.ALL,
    )
    return key, secret_key


def is_privileged(user):
    """Accounts the SGT system key may never act for."""
    return user.is_staff or user.is_superuser or user.is_platform_admin


def set_api_key_by_system(*, system_key, secret_id, secret_key, description="", end_time=None, username=""):
    """The SGT system call: create or replace the key `secret_id`.

    A new secret id gets the user named by `username` when given, else an account of
    its own (named after the secret id, no password login). The key is scoped to the SGT
    API (it never works elsewhere), and is never set for staff, superuser or admin
    accounts. An `end_time` in the past is accepted: the key is then expired (revoked).
    """
    expected = current_system_key()
    if not expected:
        raise AuthError(system_key_off_reason())
    if not isinstance(system_key, str) or not hmac.compare_digest(system_key.encode(), expected.encode()):
        raise AuthError("invalid system key")
    _validate_key_fields(secret_id, secret_key, description, end_time, past_end_allowed=True)
    with transaction.atomic():
        key = ApiKey.objects.select_for_update().select_related("user").filter(secret_id=secret_id).first()
        if key is not None and username and key.user.username != username:
            raise Conflict("secret_id belongs to another user")
        if key is None:
            if username:
                user = User.objects.filter(username=username).first()
                if user is None:
                    raise InvalidInput("username does not name a user")
            else:
                user, created = User.objects.get_or_create(username=f"{SYSTEM_USER_PREFIX}{secret_id}"[:150])
                if created:
                    user.set_unusable_password()
                    user.save()
                elif user.has_usable_password():
                    raise Conflict("the account for this secret_id is a password account")
            key = ApiKey(user=user, secret_id=secret_id)
        if is_privileged(key.user):
            raise Forbidden("the system key cannot set keys of staff, superuser or admin accounts")
        key.secret_key_hash = hash_secret_key(secret_key)
        key.description = description
        key.end_time = end_time
        key.is_active = True
        # Whoever holds the system key now knows this secret: it works for the SGT API only.
        key.scope = ApiKeyScope.SGT
        key.save()
    return key


def revoke_api_key(user, secret_id):
    revoked = ApiKey.objects.filter(user=user, secret_id=secret_id).update(is_active=False)
    forget_cached_keys(secret_id)
    return revoked


# Rows of keys that worked lately, per process, for callers that accept a bounded staleness
# (api_key_for's max_age): secret_id -> (monotonic time read, ApiKey with its user).
_recent_keys = {}
_recent_keys_lock = threading.Lock()


def forget_cached_keys(secret_id=None):
    """Drop this process's cached key rows (one, or all): a revoked, rotated or edited key, or a
    user changed, must not keep working here from the cache."""
    with _recent_keys_lock:
        if secret_id is None:
            _recent_keys.clear()
        else:
            _recent_keys.pop(secret_id, None)


def forget_cached_keys_on_change(sender, instance, **kwargs):
    """post_save/post_delete of ApiKey and User (connected in AccountsConfig.ready)."""
    forget_cached_keys(instance.secret_id if isinstance(instance, ApiKey) else None)


def _key_row(secret_id, max_age):
    if max_age > 0:
        with _recent_keys_lock:
            cached = _recent_keys.get(secret_id)
        if cached is not None and time.monotonic() - cached[0] < max_age:
            key = copy.copy(cached[1])  # each request gets its own objects, not one shared by threads
            key.user = copy.copy(cached[1].user)
            return key
    read_at = time.monotonic()
    key = ApiKey.objects.select_related("user").filter(secret_id=secret_id, is_active=True).first()
    if key is not None and max_age > 0:
        with _recent_keys_lock:
            if len(_recent_keys) >= 10_000:  # bounded: the oldest half goes
                for stale in sorted(_recent_keys, key=lambda k: _recent_keys[k][0])[:5_000]:
                    del _recent_keys[stale]
            _recent_keys[secret_id] = (read_at, key)
    return key


def api_key_for(secret_id, secret_key, *, max_age=0):
    """The valid, active, unexpired key with this secret, else None.

    With `max_age` (seconds), the key's row may be one this process read at most that long ago
    (only rows of active keys are kept; unknown or inactive ones are read every time). The secret,
    the end time and the scope are still checked on every call; a key revoked or a user deactivated
    by another process keeps working here for at most `max_age` seconds (in this process, revoking
    through accounts.services or saving the key or the user drops the row at once).
    """
    if not isinstance(secret_id, str) or not isinstance(secret_key, str) or not secret_id or not secret_key:
        return None
    key = _key_row(secret_id, max_age)
    if key is None or key.is_expired or not key.user.is_active:
        return None
    if key.scope == ApiKeyScope.SGT and is_privileged(key.user):
        # Set by the system key before its owner became staff: never acts for staff.
        return None
    if not secret_key_matches(secret_key, key.secret_key_hash):
        return None
    now = timezone.now()
    # Recording every use would add a write to each API call; a minute's precision is enough.
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_PRECISION:
        key.last_used_at = now  # also on a cached row, so that it is written once a minute, not per call
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key


def authenticate_api_key(secret_id, secret_key):
    """The user of a valid, active, unexpired key, else None (for the SGT API: any scope)."""
    key = api_key_for(secret_id, secret_key)
    return key.user if key else None
