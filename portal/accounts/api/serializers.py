"""What the tokens API reads and writes. Input serializers reject unknown fields (StrictSerializerMixin)."""

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from portal.api import StrictSerializerMixin

from ..models import ApiToken


class TokenSerializer(serializers.ModelSerializer):
    """One of your API tokens. Its key is never shown again after creation."""

    project = serializers.SlugRelatedField(
        slug_field="slug",
        read_only=True,
        allow_null=True,
        help_text=_("The one project the token reaches; null: every project you can see."),
    )
    expired = serializers.SerializerMethodField(help_text=_("Whether the token has expired."))

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "project", "created_at", "last_used_at", "expires_at", "expired"]
        read_only_fields = fields
        extra_kwargs = {
            "id": {"help_text": _("The token's number: the lookup to revoke it.")},
            "name": {"help_text": _("What the token is for, e.g. laptop.")},
            "prefix": {"help_text": _("The first characters of the key, to recognise it.")},
            "created_at": {"help_text": _("When it was created.")},
            "last_used_at": {"help_text": _("When it was last used (to the minute); null if never.")},
            "expires_at": {"help_text": _("When it stops working; null: it does not expire.")},
        }

    def get_expired(self, token: ApiToken) -> bool:
        return token.expires_at is not None and token.expires_at <= timezone.now()


class NewTokenSerializer(TokenSerializer):
    """A token just created, with its key: shown this once."""

    key = serializers.CharField(
        read_only=True, help_text=_("The secret key. Store it now: it is not shown again.")
    )

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "key"]
        read_only_fields = fields


class TokenCreateSerializer(StrictSerializerMixin, serializers.Serializer):
    name = serializers.CharField(max_length=100, help_text=_("What the token is for, e.g. laptop."))
    expires_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text=_("Optional: when the token stops working (ISO 8601, in the future)."),
    )
    project = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=ApiToken._meta.get_field("project").related_model.objects.none(),
        required=False,
        allow_null=True,
        help_text=_("Optional: slug of the one project the token may reach (one you can see)."),
        error_messages={"does_not_exist": _("No project you can see has the slug “{value}”.")},
    )

    def __init__(self, *args, projects=None, **kwargs):
        super().__init__(*args, **kwargs)
        if projects is not None:
            self.fields["project"].queryset = projects

    def validate_expires_at(self, value):
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError(_("Choose a moment in the future."))
        return value
