"""Forms of the account pages. They check fields with the services' own validators so that
a page and the API refuse the same input with the same messages, one field at a time."""

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError

from . import services, throttling

AVATAR_HELP = format_lazy(
    _("PNG, JPEG, GIF or WebP, at most {kb} KB; cropped to a square."), kb=settings.AVATAR_MAX_BYTES // 1024
)


def _check(validator, *args):
    """Run a service validator and turn its domain error into a form error."""
    try:
        return validator(*args)
    except DomainError as exc:
        raise forms.ValidationError(exc.message) from exc


def _avatar_field(required):
    return forms.FileField(
        label=_("Avatar image") if required else _("Avatar"),
        required=required,
        help_text=AVATAR_HELP,
        widget=forms.FileInput(attrs={"accept": "image/png,image/jpeg,image/gif,image/webp"}),
    )


def _clean_avatar(upload):
    if upload:
        # Pillow opens and thumbnails it here so that a bad file is reported on its field;
        # the service processes it again from the start when it saves.
        _check(services.process_avatar, upload)
        upload.seek(0)
    return upload


class RegisterForm(forms.Form):
    username = forms.CharField(
        max_length=64,
        label=_("Username"),
        help_text=_("3-64 characters: letters, digits and _ . @ + -"),
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username"}),
    )
    password1 = forms.CharField(
        label=_("Password"),
        strip=False,
        max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("At least 8 characters, not too common, not only digits."),
    )
    password2 = forms.CharField(
        label=_("Password again"), strip=False, max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    avatar = _avatar_field(required=False)

    def clean_username(self):
        return _check(services.validate_username, self.cleaned_data["username"])

    def clean_avatar(self):
        return _clean_avatar(self.cleaned_data.get("avatar"))

    def clean(self):
        cleaned = super().clean()
        password1, password2 = cleaned.get("password1"), cleaned.get("password2")
        if password1 and password2:
            if password1 != password2:
                self.add_error("password2", _("The two passwords differ."))
            else:
                try:
                    services.validate_new_password(password1, cleaned.get("username", ""))
                except DomainError as exc:
                    self.add_error("password1", exc.message.removeprefix("password: "))
        return cleaned


class AvatarForm(forms.Form):
    avatar = _avatar_field(required=True)

    def clean_avatar(self):
        return _clean_avatar(self.cleaned_data.get("avatar"))


class ApiKeyForm(forms.Form):
    description = forms.CharField(
        max_length=500,
        required=False,
        label=_("Description"),
        help_text=_("Shown in the key list."),
        widget=forms.TextInput(attrs={"placeholder": _("what the key is for")}),
    )
    end_time = forms.DateTimeField(
        required=False,
        label=_("Expires"),
        help_text=_("Optional; empty: never expires."),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def clean_end_time(self):
        end_time = self.cleaned_data.get("end_time")
        if end_time is not None and end_time <= timezone.now():
            raise forms.ValidationError(_("The expiry must be in the future."))
        return end_time


class ThrottledAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin login under the one login throttle (accounts.throttling): over the
    address rate, or for a locked account, the password is not even checked."""

    def clean(self):
        try:
            throttling.guard(self.request, self.data.get("username", ""))
        except throttling.LoginThrottled as exc:
            raise forms.ValidationError(f"{exc.message} Try again in {exc.wait} s.", code="throttled") from exc
        return super().clean()


class LoginForm(AuthenticationForm):
    """Django's login form, saying so when the account waits for an administrator's approval."""

    def clean(self):
        try:
            return super().clean()
        except forms.ValidationError:
            if services.awaiting_approval(self.cleaned_data.get("username"), self.cleaned_data.get("password")):
                raise forms.ValidationError(services.AWAITING_APPROVAL, code="inactive") from None
            raise
