"""Input checks and output shapes of the accounts API (spec facades and /api/v1/).

Serializers only check types and sizes; the rules (username format, password strength,
avatar validity, key lifetimes) live in accounts.services.
"""

from django.conf import settings
from rest_framework import serializers

from .models import ApiKey, TeamInvitation

SPEC_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class StrictCharField(serializers.CharField):
    """A CharField that takes strings only (DRF's also turns numbers into strings)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class IdField(serializers.CharField):
    """An id sent as a string or an integer ("7" or 7), kept as a string."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (str, int)):
            self.fail("invalid")
        return super().to_internal_value(str(data))


# --- spec facades --------------------------------------------------------------


class CredentialsSerializer(serializers.Serializer):
    username = StrictCharField(max_length=150)
    password = StrictCharField(max_length=128, trim_whitespace=False)


class UsernameSerializer(serializers.Serializer):
    username = StrictCharField(max_length=150)


class HubRegistrationSerializer(serializers.Serializer):
    username = StrictCharField(max_length=150)
    password = StrictCharField(max_length=128, trim_whitespace=False)
    team = StrictCharField(max_length=100, required=False, allow_blank=True, default="")
    avatar = serializers.FileField(required=False, allow_empty_file=False, help_text="Image file (PNG, JPEG, GIF, WebP)")


class SgtUpdateTokenSerializer(serializers.Serializer):
    key = StrictCharField(max_length=256, trim_whitespace=False, help_text="The system key (settings.SGT_SYSTEM_KEY)")
    secret_id = StrictCharField(max_length=128)
    secret_key = StrictCharField(max_length=256, trim_whitespace=False)
    doc = StrictCharField(max_length=500, required=False, allow_blank=True, default="")
    end_time = serializers.DateTimeField(
        input_formats=[SPEC_DATETIME_FORMAT],
        required=False,
        allow_null=True,
        default=None,
        help_text=f"YYYY-MM-DD HH:MM:SS in {settings.TIME_ZONE}; empty or null: no end",
    )
    username = StrictCharField(
        max_length=150, required=False, allow_blank=True, default="", help_text="Owner of a new key (optional)"
    )

    def validate_key(self, value):
        # The system key is compared in constant time (hmac), which takes ASCII strings only.
        if not value.isascii():
            raise serializers.ValidationError("must be ASCII")
        return value

    def to_internal_value(self, data):
        if isinstance(data, dict) and data.get("end_time") == "":
            data = {**data, "end_time": None}
        return super().to_internal_value(data)


class SgtCheckTokenSerializer(serializers.Serializer):
    secret_id = StrictCharField(max_length=128)
    secret_key = StrictCharField(max_length=256, trim_whitespace=False)


class RemainResourceRequestSerializer(serializers.Serializer):
    userId = IdField(max_length=150, help_text="Must be the caller's id or username (platform admins: any user)")


class StorageQuotaRequestSerializer(RemainResourceRequestSerializer):
    uId = IdField(max_length=20, required=False, help_text="Linux uid of the user (accepted, not used)")
    uid = IdField(max_length=20, required=False, help_text="Spelling of uId in the spec's example")

    def validate(self, attrs):
        for name in ("uId", "uid"):
            if name in attrs and not attrs[name].isdigit():
                raise serializers.ValidationError({name: "must be a non-negative integer"})
        return attrs


# --- clean API ------------------------------------------------------------------


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    role = serializers.CharField()
    team = serializers.SerializerMethodField()
    avatar = serializers.CharField(source="avatar_url")
    has_custom_avatar = serializers.SerializerMethodField()
    date_joined = serializers.DateTimeField()

    def get_team(self, user) -> str:
        return user.team.name if user.team_id else ""

    def get_has_custom_avatar(self, user) -> bool:
        return bool(user.avatar)


class ProfileUpdateSerializer(serializers.Serializer):
    """The self-service profile: the avatar only (teams are managed by administrators)."""

    avatar = serializers.FileField(required=False, allow_empty_file=False)


class TeamInvitationSerializer(serializers.ModelSerializer):
    team = serializers.CharField(source="team.name")
    username = serializers.CharField(source="user.username")
    invited_by = serializers.CharField(source="invited_by.username", allow_null=True, default=None)

    class Meta:
        model = TeamInvitation
        fields = ["id", "team", "username", "invited_by", "created_at"]
        read_only_fields = fields


class TeamInvitationCreateSerializer(serializers.Serializer):
    team = StrictCharField(max_length=100, help_text="A team you are an admin of")
    username = StrictCharField(max_length=150, help_text="Who to invite")


class ApiKeySerializer(serializers.ModelSerializer):
    is_expired = serializers.BooleanField(read_only=True)

    class Meta:
        model = ApiKey
        fields = [
            "secret_id", "description", "scope", "end_time", "is_active", "is_expired", "created_at", "last_used_at"
        ]
        read_only_fields = fields


class ApiKeyCreateSerializer(serializers.Serializer):
    description = StrictCharField(max_length=500, required=False, allow_blank=True, default="")
    end_time = serializers.DateTimeField(required=False, allow_null=True, default=None, help_text="Empty: no end")
    secret_id = StrictCharField(
        max_length=128, required=False, help_text="Optional; generated (ck_...) when left out"
    )


class ApiKeyCreatedSerializer(ApiKeySerializer):
    secret_key = serializers.CharField(help_text="Shown once; only its hash is stored")

    class Meta(ApiKeySerializer.Meta):
        fields = ApiKeySerializer.Meta.fields + ["secret_key"]
        read_only_fields = fields


class ResourceAmountsSerializer(serializers.Serializer):
    cpu = serializers.IntegerField()
    gpu = serializers.IntegerField()
    memory_gb = serializers.FloatField()
    job_slots = serializers.IntegerField()
    mig = serializers.IntegerField()
    vgpu = serializers.IntegerField()


class ResourceQuotaSerializer(serializers.Serializer):
    initialized = serializers.BooleanField(help_text="False: the defaults of settings.DEFAULT_QUOTA apply")
    active = serializers.BooleanField(help_text="False outside start_time..end_time: nothing remains")
    start_time = serializers.DateTimeField(allow_null=True)
    end_time = serializers.DateTimeField(allow_null=True)
    limits = ResourceAmountsSerializer()
    used = ResourceAmountsSerializer()
    remain = ResourceAmountsSerializer()


class StorageQuotaSerializer(serializers.Serializer):
    initialized = serializers.BooleanField(help_text="False: no storage quota, unlimited")
    bytes_quota = serializers.IntegerField(allow_null=True)
    bytes_used = serializers.IntegerField()
    bytes_remain = serializers.IntegerField(allow_null=True)
    inodes_quota = serializers.IntegerField(allow_null=True)
    inodes_used = serializers.IntegerField()
    inodes_remain = serializers.IntegerField(allow_null=True)
    start_time = serializers.DateTimeField(allow_null=True)
    end_time = serializers.DateTimeField(allow_null=True)


class QuotaSerializer(serializers.Serializer):
    resources = ResourceQuotaSerializer()
    storage = StorageQuotaSerializer()
