"""Account pages: login, logout, registration, profile (avatar, team shown read-only, API keys, quotas).

Thin views over accounts.services / accounts.selectors. The API-key table is an htmx
fragment: create and revoke swap it in place (and work without JavaScript too, as plain
form posts that answer with the whole profile page).
"""

import mimetypes
import re
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import path, reverse_lazy
from django.views.decorators.cache import never_cache
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from core.errors import DomainError

from . import selectors, services, throttling
from .forms import ApiKeyForm, AvatarForm, LoginForm, RegisterForm

# --- throttling ---------------------------------------------------------------


def _throttled(request):
    """The one login throttle (accounts.throttling) for the page's form posts: a 429 page, or None."""
    if request.method != "POST":
        return None
    username = request.POST.get("username", "")
    try:
        throttling.guard(request, username)
    except throttling.LoginThrottled as exc:
        response = render(request, "accounts/throttled.html", {"wait": exc.wait, "reason": exc.message}, status=429)
        response["Retry-After"] = str(exc.wait)
        return response
    return None


# --- login, logout, registration ------------------------------------------------


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "registration": settings.REGISTRATION}

    def post(self, request, *args, **kwargs):
        return _throttled(request) or super().post(request, *args, **kwargs)


class LogoutView(auth_views.LogoutView):
    """POST only (Django's LogoutView refuses GET)."""


@never_cache
def register(request):
    if request.user.is_authenticated:
        return redirect("accounts:profile")
    if settings.REGISTRATION == "closed":
        return render(request, "accounts/register.html", {"closed": services.REGISTRATION_CLOSED}, status=403)
    throttled = _throttled(request)
    if throttled:
        return throttled
    form = RegisterForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = services.register_user(
                username=data["username"], password=data["password1"], avatar=data["avatar"]
            )
        except DomainError as exc:
            # A race (the name taken meanwhile) or a check the form does not repeat.
            form.add_error(None, exc.message)
        else:
            if not user.is_active:  # REGISTRATION=approval
                text = _("Thank you, %(name)s: an administrator will approve your account.")
                messages.info(request, text % {"name": user.username})
                return redirect("accounts:login")
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, _("Welcome to Crucible, %(name)s.") % {"name": user.username})
            return redirect("accounts:profile")
    status = 400 if form.errors else 200
    context = {"form": form, "approval": settings.REGISTRATION == "approval"}
    return render(request, "accounts/register.html", context, status=status)


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's own password change (old password, new one twice, the validators), in the site's layout."""

    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("accounts:profile")

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(self.request, _("Your password was changed."))
        return response


# --- profile ------------------------------------------------------------------


def _quota_context(user):
    resources = selectors.remaining_resources(user)
    labels = {
        "cpu": gettext_lazy("CPU cores"),
        "gpu": gettext_lazy("GPUs"),
        "memory_gb": gettext_lazy("Memory (GB)"),
        "job_slots": gettext_lazy("Job slots"),
        "mig": gettext_lazy("MIG slices"),
        "vgpu": gettext_lazy("vGPUs"),
    }
    rows = [
        {
            "key": key,
            "label": label,
            "limit": resources["limits"][key],
            "used": resources["used"][key],
            "remain": resources["remain"][key],
        }
        for key, label in labels.items()
    ]
    storage = selectors.storage_status(user)
    quota = storage["quota"]
    bytes_quota = quota.bytes_quota if quota else None
    inodes_quota = quota.inodes_quota if quota else None
    return {
        "resource_rows": rows,
        "resource_chart": {
            "labels": [row["label"] for row in rows],
            "used": [row["used"] for row in rows],
            "limit": [row["limit"] for row in rows],
        },
        "resource_quota_record": resources["quota"],
        "storage": {
            "quota": quota,
            "used_bytes": storage["used_bytes"],
            "used_inodes": storage["used_inodes"],
            "bytes_quota": bytes_quota,
            "inodes_quota": inodes_quota,
            "bytes_percent": _percent(storage["used_bytes"], bytes_quota),
            "inodes_percent": _percent(storage["used_inodes"], inodes_quota),
        },
    }


def _percent(used, limit):
    if not limit:
        return None
    return min(100, round(100 * used / limit))


def _keys_context(user, key_form=None, new_key=None, new_secret=None):
    return {
        "api_keys": selectors.api_keys_of(user),
        "key_form": key_form or ApiKeyForm(),
        "new_key": new_key,
        "new_secret": new_secret,
    }


def _render_profile(request, status=200, **overrides):
    user = request.user
    context = {
        "avatar_form": AvatarForm(),
        "invitations": [i for i in selectors.team_invitations_of(user) if i.user_id == user.pk],
        **_keys_context(user),
        **_quota_context(user),
    }
    context.update(overrides)
    return render(request, "accounts/profile.html", context, status=status)


def _is_htmx(request):
    return request.headers.get("HX-Request") == "true"


@login_required
@never_cache
@require_GET
def profile(request):
    return _render_profile(request)


@login_required
@require_POST
def upload_avatar(request):
    form = AvatarForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            services.update_profile(request.user, avatar=form.cleaned_data["avatar"])
        except DomainError as exc:
            form.add_error("avatar", exc.message)
    if form.errors:
        reason = " ".join(form.errors.get("avatar", [_("no file")]))
        messages.error(request, _("Avatar not changed: %(reason)s") % {"reason": reason})
        return _render_profile(request, status=400, avatar_form=form)
    messages.success(request, _("Avatar updated."))
    return redirect("accounts:profile")


@login_required
@require_POST
def sign_out_everywhere(request):
    """End every other session and every JWT issued so far; this session goes on."""
    user = services.sign_out_everywhere(user=request.user)
    update_session_auth_hash(request, user)
    messages.success(request, _("Signed out everywhere else: other sessions and every token issued so far are ended."))
    return redirect("accounts:profile")


@login_required
@require_POST
def accept_invitation(request, pk):
    try:
        services.accept_team_invitation(user=request.user, invitation_id=pk)
    except DomainError as exc:
        raise Http404(exc.message) from exc
    messages.success(request, _("You joined %(team)s.") % {"team": request.user.team.name})
    return redirect("accounts:profile")


@login_required
@require_POST
def decline_invitation(request, pk):
    try:
        services.withdraw_team_invitation(actor=request.user, invitation_id=pk)
    except DomainError as exc:
        raise Http404(exc.message) from exc
    messages.success(request, _("Invitation declined."))
    return redirect("accounts:profile")


@login_required
@require_POST
def create_key(request):
    form = ApiKeyForm(request.POST)
    new_key = new_secret = None
    if form.is_valid():
        try:
            new_key, new_secret = services.create_api_key(
                request.user, description=form.cleaned_data["description"], end_time=form.cleaned_data["end_time"]
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
    status = 400 if form.errors else 200
    if new_key:
        form = ApiKeyForm()  # a fresh form for the next key
    context = _keys_context(request.user, key_form=form, new_key=new_key, new_secret=new_secret)
    if _is_htmx(request):
        # htmx swaps only 2xx answers by default; the error is in the fragment, so answer 200.
        return render(request, "accounts/_api_keys.html", context)
    return _render_profile(request, status=status, **context)


@login_required
@require_POST
def revoke_key(request, secret_id):
    if not services.revoke_api_key(request.user, secret_id):
        raise Http404("No such API key.")
    if _is_htmx(request):
        return render(request, "accounts/_api_keys.html", _keys_context(request.user))
    messages.success(request, _("API key %(secret_id)s revoked.") % {"secret_id": secret_id})
    return redirect("accounts:profile")


# --- avatar files ---------------------------------------------------------------

AVATAR_NAME_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}\Z")
AVATAR_EXTENSIONS = {".png", ".jpg", ".jpeg", ".gif", ".webp"}


@require_GET
def avatar_file(request, name):
    """Serve MEDIA_ROOT/avatars/<name>, with DEBUG off as well (the static() route is DEBUG only).

    Only plain image file names directly inside the avatars folder; anything else is a 404.
    """
    if not AVATAR_NAME_RE.match(name) or Path(name).suffix.lower() not in AVATAR_EXTENSIONS:
        raise Http404("No such avatar.")
    folder = (Path(settings.MEDIA_ROOT) / "avatars").resolve()
    file_path = (folder / name).resolve()
    if file_path.parent != folder or not file_path.is_file():
        raise Http404("No such avatar.")
    content_type = mimetypes.guess_type(file_path.name)[0] or "application/octet-stream"
    response = FileResponse(open(file_path, "rb"), content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "public, max-age=86400"
    return response


urlpatterns = [
    path("accounts/login/", LoginView.as_view(), name="login"),
    path("accounts/logout/", LogoutView.as_view(), name="logout"),
    path("accounts/register/", register, name="register"),
    path("accounts/profile/", profile, name="profile"),
    path("accounts/password/", PasswordChangeView.as_view(), name="password-change"),
    path("accounts/profile/avatar/", upload_avatar, name="profile-avatar"),
    path("accounts/profile/sign-out-everywhere/", sign_out_everywhere, name="sign-out-everywhere"),
    path("accounts/profile/invitations/<int:pk>/accept/", accept_invitation, name="invitation-accept"),
    path("accounts/profile/invitations/<int:pk>/decline/", decline_invitation, name="invitation-decline"),
    path("accounts/profile/keys/", create_key, name="api-key-create"),
    path("accounts/profile/keys/<str:secret_id>/revoke/", revoke_key, name="api-key-revoke"),
    # The only route under MEDIA_URL: config.urls serves no media folder.
    path(f"{settings.MEDIA_URL.strip('/')}/avatars/<path:name>", avatar_file, name="avatar-file"),
]
