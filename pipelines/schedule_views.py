"""Schedule pages: a project's schedules with their next five times and latest events, the form
that makes one (of a pipeline, or of a single job: a template or a copy of an earlier job), pause,
resume and delete."""

import zoneinfo

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from clusterjobs.models import Job, JobTemplate
from clusterjobs.request import JobRequest
from portal.forms import apply_errors
from portal.projects.access import Need, can, check, get_project_for_user

from . import definition, schedules
from .models import MissedPolicy, Schedule

MAX_SHOWN = 100
REFUSAL = gettext_lazy("Only members and owners of the project schedule its pipelines.")
TARGETS = ("pipeline", "template", "job")


class ScheduleForm(forms.Form):
    pipeline = forms.ModelChoiceField(queryset=None, label=gettext_lazy("Pipeline"), required=False)
    template = forms.ModelChoiceField(
        queryset=None,
        label=gettext_lazy("Or a single job from a template"),
        required=False,
        help_text=gettext_lazy("The template is copied: later changes to it do not reach the schedule."),
    )
    job = forms.IntegerField(
        label=gettext_lazy("Or a single job like an earlier one (its number)"),
        required=False,
        min_value=1,
        help_text=gettext_lazy("The job of this project is copied, secret values included."),
    )
    cron = forms.CharField(
        label=gettext_lazy("Cron expression"),
        max_length=100,
        help_text=gettext_lazy(
            "Minute, hour, day of month, month, day of week; e.g. 0 2 * * * for 02:00 every day."
        ),
    )
    timezone = forms.ChoiceField(label=gettext_lazy("Time zone"))
    missed = forms.ChoiceField(
        label=gettext_lazy("Times missed while the portal was down"), choices=MissedPolicy.choices
    )

    def __init__(self, project, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.project = project
        self.fields["pipeline"].queryset = project.pipelines.order_by("name")
        self.fields["template"].queryset = JobTemplate.offered_to(project).order_by("title", "pk")
        self.fields["timezone"].choices = [(z, z) for z in sorted(zoneinfo.available_timezones())]

    def clean(self) -> dict:
        data = super().clean()
        chosen = [name for name in TARGETS if data.get(name)]
        if len(chosen) != 1 and not any(name in self.errors for name in TARGETS):
            message = _("Choose one: a pipeline, a template or an earlier job.")
            for name in chosen or ["pipeline"]:
                self.add_error(name, message)
        job_id = data.get("job")
        if len(chosen) == 1 and job_id:
            data["job"] = Job.objects.filter(project=self.project, pk=job_id).first()
            if data["job"] is None:
                self.add_error("job", _("This project has no job of this number."))
        return data

    def create(self, user):
        """The schedule the form describes (ValidationError on the field it came from)."""
        data = self.cleaned_data
        timing = (data["cron"], data["timezone"], data["missed"])
        if data["pipeline"]:
            return schedules.create_schedule(user, data["pipeline"], *timing)
        target = "template" if data["template"] else "job"
        if data["template"]:
            spec = schedules.spec_of_template(data["template"])
        else:
            spec = definition.body_of(JobRequest.from_model(data["job"]))
        try:
            return schedules.create_job_schedule(user, self.project, spec, *timing, template=data["template"])
        except ValidationError as error:
            if hasattr(error, "error_dict") and "job" in error.error_dict:
                error.error_dict[target] = error.error_dict.pop("job")
            raise


@login_required
def project_schedules(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    can_change = can(request.user, project, Need.CHANGE)
    form = ScheduleForm(
        project, request.POST or None, initial={"timezone": timezone.get_current_timezone_name()}
    )
    if request.method == "POST":
        check(request.user, project, Need.CHANGE, REFUSAL)
        if form.is_valid():
            try:
                form.create(request.user)
            except ValidationError as error:
                apply_errors(form, error)
            else:
                messages.success(request, _("Schedule saved."))
                return redirect("pipelines:schedules", project.slug)
    rows = list(
        project.schedules.select_related("pipeline", "template", "created_by").prefetch_related("events")[
            :MAX_SHOWN
        ]
    )
    now = timezone.now()
    for schedule in rows:
        schedule.upcoming = (
            [] if schedule.paused else schedules.times_after(schedule.cron, schedule.zone, now, 5)
        )
        schedule.latest = list(schedule.events.all())[:3]
    context = {"project": project, "schedules": rows, "form": form, "can_change": can_change}
    return render(request, "pipelines/schedules.html", context)


def _schedule_to_change(request: HttpRequest, pk: int) -> Schedule:
    schedule = get_object_or_404(Schedule.objects.visible_to(request.user).select_related("project"), pk=pk)
    check(request.user, schedule.project, Need.CHANGE, REFUSAL)
    return schedule


@login_required
@require_POST
def change(request: HttpRequest, pk: int, verb: str) -> HttpResponse:
    schedule = _schedule_to_change(request, pk)
    if verb == "pause":
        schedules.pause(request.user, schedule)
    elif verb == "resume":
        schedules.resume(request.user, schedule)
    else:
        schedules.delete_schedule(request.user, schedule)
    return redirect("pipelines:schedules", schedule.project.slug)
