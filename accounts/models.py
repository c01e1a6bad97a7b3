from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.templatetags.static import static
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _


class Team(models.Model):
    """A lab: its members see each other's experiment runs. Administrators put users in
    teams (Django admin); a team's own `admins` invite members (TeamInvitation)."""

    name = models.CharField(max_length=100, unique=True)
    admins = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="administered_teams",
        help_text="Members who may invite users into this team",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Role(models.TextChoices):
    ADMIN = "admin", _("Admin")
    RESEARCHER = "researcher", _("Researcher")
    OPERATOR = "operator", _("Operator (furnace control)")


DEFAULT_AVATAR = "img/default-avatar.png"


class User(AbstractUser):
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.RESEARCHER)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="members")
    avatar = models.ImageField(upload_to="avatars/", blank=True)
    token_version = models.PositiveIntegerField(
        default=0,
        editable=False,
        help_text="Goes up on a password change, a deactivation and 'sign out everywhere': "
        "JWTs and sessions made before stop working",
    )

    def save(self, *args, **kwargs):
        # A password change (set_password; not the rehash on login, which clears _password
        # first) or a deactivation ends every token and session issued so far.
        if self.pk is not None and (self._password is not None or self._is_being_deactivated()):
            self.token_version += 1
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "token_version"}
        super().save(*args, **kwargs)

    def _is_being_deactivated(self):
        return not self.is_active and type(self).objects.filter(pk=self.pk, is_active=True).exists()

    def _get_session_auth_hash(self, secret=None):
        """Sessions carry this hash; a new token_version ends them (Django's own hash,
        of the password alone, while the version is 0)."""
        if not self.token_version:
            return super()._get_session_auth_hash(secret=secret)
        return salted_hmac(
            "crucible.accounts.User.session_auth_hash",
            f"{self.password}:{self.token_version}",
            secret=secret,
            algorithm="sha256",
        ).hexdigest()

    @property
    def avatar_url(self):
        return self.avatar.url if self.avatar else static(DEFAULT_AVATAR)

    @property
    def is_platform_admin(self):
        return self.is_superuser or self.role == Role.ADMIN

    @property
    def is_operator(self):
        return self.is_platform_admin or self.role == Role.OPERATOR


class TeamInvitation(models.Model):
    """An invitation, by a team admin, that only the invited user can accept."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_invitations")
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="one_invitation_per_team_and_user")]

    def __str__(self):
        return f"{self.user} into {self.team}"


class ApiKeyScope(models.TextChoices):
    ALL = "all", "Every API (made by the account's owner)"
    SGT = "sgt", "SGT API only (made with the SGT system key)"


class ApiKey(models.Model):
    """A secret id / secret key pair. Only a hash of the key is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    secret_id = models.CharField(max_length=128, unique=True)
    secret_key_hash = models.CharField(max_length=256)
    description = models.CharField(max_length=500, blank=True, default="")
    end_time = models.DateTimeField(null=True, blank=True, help_text="Refused after this time; empty: no end")
    is_active = models.BooleanField(default=True)
    scope = models.CharField(
        max_length=8,
        choices=ApiKeyScope.choices,
        default=ApiKeyScope.ALL,
        help_text="sgt: the key works only under /sgt/ (keys set by the SGT system call)",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self):
        return f"{self.secret_id} ({self.user})"

    @property
    def is_expired(self):
        return self.end_time is not None and self.end_time <= timezone.now()

    def works_at(self, path):
        """Keys of scope "sgt" (set by the SGT system call) work only under /sgt/."""
        return self.scope != ApiKeyScope.SGT or path.startswith("/sgt/")


class ResourceQuota(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="resource_quota")
    cpu = models.PositiveIntegerField(default=8)
    gpu = models.PositiveIntegerField(default=0)
    memory_gb = models.FloatField(default=16.0)
    job_slots = models.PositiveIntegerField(default=4)
    mig = models.PositiveIntegerField(default=0)
    vgpu = models.PositiveIntegerField(default=0)
    start_time = models.DateTimeField(null=True, blank=True)
    end_time = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"resources of {self.user}"


class StorageQuota(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="storage_quota")
    bytes_quota = models.BigIntegerField(default=10 * 1024**3)
    inodes_quota = models.BigIntegerField(default=100_000)
    start_time = models.DateTimeField(null=True, blank=True)
    end_time = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"storage of {self.user}"
