"""The job submission form: its layout (labels, widgets, help), and the request it gives. Its
fields are named as ``JobRequest``'s, so a request's new field needs only a field here: cleaning
gives a ``JobRequest`` through the same check as the API (``validation.check_request``), also as
you type through the validate endpoint."""

import shlex
from decimal import Decimal

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from portal.forms import apply_errors

from .models import Job, JobTemplate
from .validation import JobRequest, check_request, env_name_error, job_limits


def parse_env(text: str) -> dict[str, str]:
    """NAME=value lines (blank lines ignored) into a dict; ValidationError naming the bad line."""
    env: dict[str, str] = {}
    problems = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep:
            problems.append(_("Line %(n)s: write NAME=value.") % {"n": number})
        elif message := env_name_error(name):
            problems.append(_("Line %(n)s: %(message)s") % {"n": number, "message": message})
        elif name in env:
            problems.append(_("Line %(n)s: %(name)s is set twice.") % {"n": number, "name": name})
        else:
            env[name] = value
    if problems:
        raise ValidationError(problems)
    return env


def format_env(env: dict[str, str], secret: set[str], *, secret_lines: bool) -> str:
    """The env as NAME=value lines; secret values are never written back (the user enters them again)."""
    if secret_lines:
        return "\n".join(f"{name}=" for name in env if name in secret)
    return "\n".join(f"{name}={value}" for name, value in env.items() if name not in secret)


def _number(value: Decimal | int) -> str:
    """A limit as people read it: 8 cores rather than 8.000 (which reads as eight thousand in
    Spanish), 0.5 with the reader's decimal mark."""
    if isinstance(value, Decimal):
        value = value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()
    return formats.number_format(value)


class JobForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100, initial="training")
    image = forms.CharField(
        label=gettext_lazy("Image"),
        max_length=500,
        help_text=gettext_lazy("Container image. The local backend records it and runs on this machine."),
    )
    command = forms.CharField(
        label=gettext_lazy("Command"),
        max_length=20000,
        initial="python -m examples.train --epochs 10",
        help_text=gettext_lazy(
            "Split into arguments as a shell would (quotes work), but never run through a shell. "
            "E.g. python -m examples.train --epochs 10"
        ),
    )
    env = forms.CharField(
        label=gettext_lazy("Environment variables"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "SEED=42"}),
        help_text=gettext_lazy("One NAME=value per line. MLFLOW_* and TALLER_* are set by the portal."),
    )
    secret_env = forms.CharField(
        label=gettext_lazy("Secret variables"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "API_KEY=…"}),
        help_text=gettext_lazy(
            "One NAME=value per line; the values are never shown again (not even when copied)."
        ),
    )
    cpu = forms.DecimalField(
        label=gettext_lazy("CPU cores"), max_digits=7, decimal_places=3, initial=Decimal("1")
    )
    memory_mib = forms.IntegerField(label=gettext_lazy("Memory (MiB)"), initial=2048)
    gpus = forms.IntegerField(label=gettext_lazy("GPUs"), initial=0)
    gpu_type = forms.CharField(
        label=gettext_lazy("GPU type"),
        required=False,
        max_length=100,
        help_text=gettext_lazy("Optional GPU product, e.g. NVIDIA-A100-SXM4-40GB."),
    )
    time_limit_minutes = forms.IntegerField(label=gettext_lazy("Time limit (minutes)"), initial=60)
    experiment = forms.CharField(
        label=gettext_lazy("MLflow experiment"),
        max_length=100,
        initial="default",
        help_text=gettext_lazy("The project's experiment the job's run goes to."),
    )

    def __init__(self, *args, user, project, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.project = project
        self.request: JobRequest | None = None  # once valid
        limits = job_limits()
        quota = getattr(project, "quota", None)
        maxima = {
            "cpu": (limits.cpu, quota and quota.max_cpu),
            "memory_mib": (limits.memory_mib, quota and quota.max_memory_mib),
            "gpus": (limits.gpus, quota and quota.max_gpus),
            "time_limit_minutes": (limits.time_limit_minutes, quota and quota.max_time_limit_minutes),
        }
        for field, (per_job, project_max) in maxima.items():
            allowed = min(per_job, project_max) if project_max is not None else per_job
            self.fields[field].widget.attrs.update(
                {"min": 1 if field == "time_limit_minutes" else 0, "max": allowed}
            )
            self.fields[field].help_text = _("At most %(n)s for one job here.") % {"n": _number(allowed)}
        self.fields["image"].initial = settings.TALLER_DEFAULT_JOB_IMAGE
        prefixes = settings.TALLER_ALLOWED_IMAGE_PREFIXES
        if prefixes:
            self.fields["image"].help_text = _("From an allowed registry: %(prefixes)s.") % {
                "prefixes": ", ".join(prefixes)
            }

    def clean_command(self) -> list[str]:
        try:
            return shlex.split(self.cleaned_data["command"])
        except ValueError as error:
            raise ValidationError(_("Cannot split the command: %(error)s.") % {"error": error}) from error

    def clean_env(self) -> dict[str, str]:
        return parse_env(self.cleaned_data.get("env", ""))

    def clean_secret_env(self) -> dict[str, str]:
        return parse_env(self.cleaned_data.get("secret_env", ""))

    def clean(self) -> dict:
        data = super().clean()
        if self.errors:
            return data
        env, secret = data["env"], data["secret_env"]
        if both := sorted(set(env) & set(secret)):
            self.add_error("secret_env", _("Set in both lists: %(names)s.") % {"names": ", ".join(both)})
            return data
        # The form's fields are the request's (by name), with the environment split in two.
        asked = {f.name: data[f.name] for f in JobRequest.fields() if f.name in data}
        asked |= {"env": {**env, **secret}, "secret_env": sorted(secret)}
        try:
            self.request = check_request(self.user, self.project, **asked)
        except ValidationError as error:
            apply_errors(self, error)
        return data


def initial(request: JobRequest) -> dict:
    """The form's starting values for a request (a copied job, a template): every field by name,
    the command as shell words, and the environment without secret values (entered again)."""
    values = request.as_dict()
    command, env, secret = request.command, request.env, set(request.secret_env)
    env = env if isinstance(env, dict) else {}  # a template's, as a site admin typed it
    return values | {
        "command": shlex.join(command) if isinstance(command, list) else str(command),
        "env": format_env(env, secret, secret_lines=False),
        "secret_env": format_env(env, secret, secret_lines=True),
    }


def initial_from_job(job: Job) -> dict:
    return initial(JobRequest.from_model(job))


def initial_from_template(template: JobTemplate) -> dict:
    return initial(JobRequest.from_model(template, name=template.title[:100]))
