"""The schedules API: list, create (a pipeline's, or a single job's: a template or a job
request), show (with the next five times and the latest events), pause, resume, delete.
Visibility from ``visible_to``; changes need a member or owner."""

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from clusterjobs.models import JobTemplate
from portal.api import StrictSerializerMixin
from portal.projects.access import Need, can, check, find_project

from .. import schedules
from ..models import MissedPolicy, Pipeline, Schedule, ScheduleEvent
from .described import Described

REFUSAL = _("Only members and owners of the project schedule its pipelines.")
NEXT_TIMES = 5
EVENTS = 10


class ScheduleCreateSerializer(Described, StrictSerializerMixin, serializers.Serializer):
    project = serializers.CharField(help_text=_("Slug of the project."))
    pipeline = serializers.CharField(
        required=False,
        help_text=_(
            "Name of a pipeline of the project (run or defined before). Give one of pipeline, "
            "template or job."
        ),
    )
    template = serializers.IntegerField(
        required=False,
        help_text=_("Id of a job template offered to the project: a single job, copied from it."),
    )
    job = serializers.DictField(
        required=False,
        help_text=_("A single job: the body of POST /api/v1/jobs/ without project, checked as a submission."),
    )
    cron = serializers.CharField(help_text=_("Five-field cron expression, e.g. 0 2 * * *."))
    timezone = serializers.CharField(
        default="UTC", help_text=_("Time zone of the expression, e.g. Europe/Madrid.")
    )
    missed = serializers.ChoiceField(
        choices=MissedPolicy.choices,
        default=MissedPolicy.SKIP,
        help_text=_("What to do with times missed while the portal was down."),
    )


class ScheduleEventSerializer(Described, serializers.ModelSerializer):
    class Meta:
        model = ScheduleEvent
        fields = ["due_at", "at", "outcome", "message", "run", "job"]
        read_only_fields = fields
        extra_kwargs = {
            "due_at": {"help_text": _("The time it was due.")},
            "at": {"help_text": _("When it happened.")},
            "outcome": {"help_text": _("started, refused or missed.")},
            "message": {"help_text": _("Why it was refused or what was missed.")},
            "run": {"help_text": _("The pipeline run it started, if any.")},
            "job": {"help_text": _("The job it started, if any (a single job's schedule).")},
        }


class ScheduleSerializer(Described, serializers.ModelSerializer):
    project = serializers.CharField(source="project.slug", read_only=True)
    pipeline = serializers.CharField(
        source="pipeline.name",
        read_only=True,
        allow_null=True,
        help_text=_("Name of the pipeline it runs; null for a single job's schedule."),
    )
    job = serializers.SerializerMethodField(
        help_text=_("The single job it runs (its body, secret values masked); null for a pipeline's.")
    )
    template = serializers.IntegerField(
        source="template_id",
        read_only=True,
        allow_null=True,
        help_text=_("The job template its job was copied from, if any."),
    )
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    timezone = serializers.CharField(source="zone", read_only=True)
    active = serializers.SerializerMethodField(help_text=_("False when paused or the project is not active."))

    class Meta:
        model = Schedule
        fields = [
            "id",
            "project",
            "pipeline",
            "job",
            "template",
            "created_by",
            "cron",
            "timezone",
            "missed",
            "paused",
            "active",
            "next_run_at",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field({"type": "object", "nullable": True, "additionalProperties": True})
    def get_job(self, schedule: Schedule) -> dict | None:
        if not schedule.runs_a_job():
            return None
        spec = dict(schedule.job_spec)
        secret = set(spec.get("secret_env") or [])
        if isinstance(spec.get("env"), dict):
            spec["env"] = {k: ("••••••" if k in secret else v) for k, v in spec["env"].items()}
        return spec

    def get_active(self, schedule: Schedule) -> bool:
        return not schedule.paused and schedule.project.is_active()


class ScheduleDetailSerializer(ScheduleSerializer):
    next_times = serializers.SerializerMethodField(help_text=_("The next five times, in UTC."))
    events = serializers.SerializerMethodField(help_text=_("The latest runs, refusals and missed times."))

    class Meta(ScheduleSerializer.Meta):
        fields = [*ScheduleSerializer.Meta.fields, "next_times", "events"]
        read_only_fields = fields

    def get_next_times(self, schedule: Schedule) -> list[str]:
        if schedule.paused:
            return []
        times = schedules.times_after(schedule.cron, schedule.zone, timezone.now(), NEXT_TIMES)
        return [serializers.DateTimeField().to_representation(t) for t in times]

    def get_events(self, schedule: Schedule) -> list[dict]:
        return ScheduleEventSerializer(schedule.events.all()[:EVENTS], many=True).data


@extend_schema_view(
    list=extend_schema(summary=_("List schedules")),
    retrieve=extend_schema(
        summary=_("Show a schedule"), description=_("Its next five times and latest events.")
    ),
    destroy=extend_schema(summary=_("Delete a schedule"), description=_("Its runs stay.")),
)
class ScheduleViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """Schedules (of pipelines and of single jobs) of the projects you can see."""

    def get_queryset(self):
        return Schedule.objects.visible_to(self.request.user).select_related(
            "project", "pipeline", "created_by"
        )

    def get_serializer_class(self):
        return ScheduleSerializer if self.action == "list" else ScheduleDetailSerializer

    def _to_change(self) -> Schedule:
        schedule = self.get_object()
        check(self.request.user, schedule.project, Need.CHANGE, REFUSAL)
        return schedule

    def _detail(self, pk: int, code: int = status.HTTP_200_OK) -> Response:
        return Response(ScheduleDetailSerializer(self.get_queryset().get(pk=pk)).data, status=code)

    @extend_schema(
        summary=_("Schedule a pipeline or a job"),
        description=_(
            "Run a pipeline of the project, or a single job (a template, or a job request), on a "
            "cron expression in a time zone."
        ),
        request=ScheduleCreateSerializer,
        responses={201: ScheduleDetailSerializer},
    )
    def create(self, request: Request) -> Response:
        body = ScheduleCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        project = find_project(data["project"])
        if project is None or not can(request.user, project, Need.VIEW):
            raise exceptions.ValidationError({"project": [_("No such project.")]})
        check(request.user, project, Need.CHANGE, REFUSAL)
        targets = [name for name in ("pipeline", "template", "job") if name in data]
        if len(targets) != 1:
            message = _("Give one of pipeline, template or job.")
            raise exceptions.ValidationError({name: [message] for name in targets or ["pipeline"]})
        timing = (data["cron"], data["timezone"], data["missed"])
        if "pipeline" in data:
            pipeline = Pipeline.objects.filter(project=project, name=data["pipeline"]).first()
            if pipeline is None:
                raise exceptions.ValidationError(
                    {"pipeline": [_("The project has no pipeline of this name.")]}
                )
            schedule = schedules.create_schedule(request.user, pipeline, *timing)
        elif "template" in data:
            template = JobTemplate.offered_to(project).filter(pk=data["template"]).first()
            if template is None:
                raise exceptions.ValidationError({"template": [_("No such template for this project.")]})
            spec = schedules.spec_of_template(template)
            schedule = schedules.create_job_schedule(request.user, project, spec, *timing, template=template)
        else:
            schedule = schedules.create_job_schedule(request.user, project, data["job"], *timing)
        return self._detail(schedule.pk, status.HTTP_201_CREATED)

    @extend_schema(summary=_("Pause a schedule"), request=None, responses={200: ScheduleDetailSerializer})
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str) -> Response:
        schedules.pause(request.user, self._to_change())
        return self._detail(int(pk))

    @extend_schema(summary=_("Resume a schedule"), request=None, responses={200: ScheduleDetailSerializer})
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str) -> Response:
        schedules.resume(request.user, self._to_change())
        return self._detail(int(pk))

    def perform_destroy(self, instance: Schedule) -> None:
        check(self.request.user, instance.project, Need.CHANGE, REFUSAL)
        schedules.delete_schedule(self.request.user, instance)
