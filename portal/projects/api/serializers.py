"""What the projects API reads and writes. Input serializers reject unknown fields (StrictSerializerMixin)."""

from datetime import tzinfo

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from portal.api import StrictSerializerMixin
from portal.times import api_time

from ..models import Membership, Project, Role


class ProjectListSerializer(serializers.ListSerializer):
    def to_representation(self, data) -> list[dict]:
        zone = timezone.get_current_timezone()  # once a page, not twice a project
        return [self.child.to_representation(project, zone) for project in data]


class ProjectSerializer(serializers.ModelSerializer):
    """A research project and your role in it."""

    requested_by = serializers.CharField(
        source="requested_by_username",
        read_only=True,
        help_text=_("Username of the person who registered it."),
    )
    role = serializers.ChoiceField(
        source="caller_role",
        choices=Role.choices,
        read_only=True,
        allow_null=True,
        help_text=_("Your role in the project; null when you see it as a site admin without a membership."),
    )

    class Meta:
        model = Project
        fields = [
            "slug",
            "name",
            "description",
            "principal_investigator",
            "field_of_research",
            "expected_needs",
            "status",
            "decision_reason",
            "requested_by",
            "role",
            "created_at",
            "decided_at",
        ]
        read_only_fields = fields
        list_serializer_class = ProjectListSerializer
        extra_kwargs = {
            "slug": {"help_text": _("Unique short name: the lookup in URLs, the cluster namespace, MLflow.")},
            "name": {"help_text": _("Full name of the project.")},
            "description": {"help_text": _("What the project is about.")},
            "principal_investigator": {"help_text": _("The researcher responsible for the project.")},
            "field_of_research": {"help_text": _("Discipline, e.g. genomics.")},
            "expected_needs": {"help_text": _("GPUs, CPU hours, storage: what the group expects to use.")},
            "status": {
                "help_text": _(
                    "pending: waiting for a site admin; active: may submit jobs; rejected; archived."
                )
            },
            "decision_reason": {"help_text": _("Why a site admin approved or rejected it.")},
            "created_at": {"help_text": _("When it was registered.")},
            "decided_at": {"help_text": _("When a site admin approved or rejected it; null while pending.")},
        }

    def to_representation(self, project: Project | dict, zone: tzinfo | None = None) -> dict:
        # The declared fields above describe the answer (and the schema). A page of 50 projects is
        # built here directly from the list's value rows (``ROW``), or from one project: DRF's
        # field-by-field loop was 40 % of the list's time, model instances another tenth
        # (bench/bench_projects_api.py). tests/api/test_projects_api.py checks both give the same.
        # ``zone``: the current time zone, which a page looks up once (ProjectListSerializer).
        row = project if isinstance(project, dict) else {name: getattr(project, name) for name in ROW}
        role, zone = row["caller_role"], zone or timezone.get_current_timezone()
        return {
            "slug": row["slug"],
            "name": row["name"],
            "description": row["description"],
            "principal_investigator": row["principal_investigator"],
            "field_of_research": row["field_of_research"],
            "expected_needs": row["expected_needs"],
            "status": str(row["status"]),
            "decision_reason": row["decision_reason"],
            "requested_by": row["requested_by_username"],
            "role": None if role is None else str(role),
            "created_at": api_time(row["created_at"], zone),
            "decided_at": api_time(row["decided_at"], zone),
        }


# What a project's answer is built from: its columns and the two annotations of the list's query.
ROW = [
    "slug",
    "name",
    "description",
    "principal_investigator",
    "field_of_research",
    "expected_needs",
    "status",
    "decision_reason",
    "requested_by_username",
    "caller_role",
    "created_at",
    "decided_at",
]


class ProjectCreateSerializer(StrictSerializerMixin, serializers.ModelSerializer):
    """A new project; it waits for a site admin's approval."""

    class Meta:
        model = Project
        fields = [
            "slug",
            "name",
            "description",
            "principal_investigator",
            "field_of_research",
            "expected_needs",
        ]
        extra_kwargs = {
            "slug": {
                "help_text": _(
                    "1 to 40 lowercase letters, digits and hyphens, starting and ending with a letter or "
                    "digit; unique."
                )
            },
            "name": {"help_text": _("Full name of the project.")},
            "description": {"help_text": _("What the project is about.")},
            "principal_investigator": {"help_text": _("The researcher responsible for the project.")},
            "field_of_research": {"help_text": _("Discipline, e.g. genomics.")},
            "expected_needs": {"help_text": _("GPUs, CPU hours, storage: what the group expects to use.")},
        }


class RejectSerializer(StrictSerializerMixin, serializers.Serializer):
    """A site admin's rejection of a pending project, with its reason."""

    reason = serializers.CharField(
        max_length=2000, help_text=_("Why the project is rejected; shown to its members. Required.")
    )


class MembershipSerializer(serializers.ModelSerializer):
    """A member of a project and their role."""

    username = serializers.CharField(source="user.username", read_only=True, help_text=_("The member."))
    name = serializers.CharField(
        source="user.get_full_name", read_only=True, help_text=_("The member's full name, may be empty.")
    )
    joined_at = serializers.DateTimeField(
        source="created_at", read_only=True, help_text=_("When they were added.")
    )

    class Meta:
        model = Membership
        fields = ["username", "name", "role", "joined_at"]
        read_only_fields = fields
        extra_kwargs = {
            "role": {"help_text": _("owner: manages members; member: submits jobs; viewer: reads only.")}
        }


class MemberCreateSerializer(StrictSerializerMixin, serializers.Serializer):
    """Someone to add to the project, by username or email."""

    user = serializers.CharField(
        max_length=254, help_text=_("Username or email address of an active user to add.")
    )
    role = serializers.ChoiceField(
        choices=Role.choices,
        default=Role.MEMBER,
        help_text=_("owner: manages members; member: submits jobs; viewer: reads only."),
    )


class MemberUpdateSerializer(StrictSerializerMixin, serializers.Serializer):
    """A member's new role."""

    role = serializers.ChoiceField(
        choices=Role.choices,
        help_text=_("The new role. A project keeps at least one owner."),
    )
