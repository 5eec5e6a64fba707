"""The job submission form: its layout (labels, widgets, help), and the request it gives. Its
fields are named as ``JobRequest``'s, so a request's new field needs only a field here: cleaning
gives a ``JobRequest`` through the same check as the API (``validation.check_request``), also as
you type through the validate endpoint."""

import shlex
from decimal import Decimal

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from portal.forms import apply_errors

from .models import Job, JobTemplate
from .request import JobRequest
from .validation import check_request, effective_limits, env_name_error, limit_text


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
    # People think of memory in GiB (2, 1.5); the request (and the API) keeps MiB.
    memory_gib = forms.DecimalField(
        label=gettext_lazy("Memory (GiB)"), max_digits=9, decimal_places=3, initial=Decimal("2")
    )
    gpus = forms.IntegerField(label=gettext_lazy("GPUs"), initial=0)
    # The cluster's GPU types (TALLER_GPU_TYPES) as a list; hidden when the site names none.
    gpu_type = forms.ChoiceField(label=gettext_lazy("GPU type"), required=False)
    time_limit_minutes = forms.IntegerField(label=gettext_lazy("Time limit (minutes)"), initial=60)
    experiment = forms.CharField(
        label=gettext_lazy("MLflow experiment"),
        max_length=100,
        initial="default",
        help_text=gettext_lazy("The project's experiment the job's run goes to."),
    )

    source_git = forms.CharField(
        label=gettext_lazy("Git repository"),
        required=False,
        max_length=500,
        widget=forms.TextInput(attrs={"placeholder": "https://github.com/group/project.git"}),
        help_text=gettext_lazy(
            "Optional: the job starts in a checkout of this repository (https:// or ssh://). "
            "A private one needs the project's git credential."
        ),
    )
    source_ref = forms.CharField(
        label=gettext_lazy("Branch, tag or commit"),
        required=False,
        max_length=250,
        widget=forms.TextInput(attrs={"placeholder": "main"}),
        help_text=gettext_lazy("Resolved to its commit when you submit, so a re-run gets the same code."),
    )
    source_dvc = forms.CharField(
        label=gettext_lazy("DVC targets"),
        required=False,
        max_length=5000,
        widget=forms.TextInput(attrs={"placeholder": "data/train.csv data/test.csv"}),
        help_text=gettext_lazy(
            "Optional, with a git repository: paths its DVC files track, separated by spaces. The versions "
            "the commit pins are pulled from the project's DVC remote before the job starts."
        ),
    )

    def __init__(self, *args, user, project, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.project = project
        self.request: JobRequest | None = None  # once valid
        limits = effective_limits(project)
        maxima = {
            "cpu": ("cpu", limits.cpu, limits.cpu, 0),
            "memory_gib": ("memory_mib", limits.memory_mib, limits.memory_mib / Decimal(1024), 0),
            "gpus": ("gpus", limits.gpus, limits.gpus, 0),
            "time_limit_minutes": (
                "time_limit_minutes",
                limits.time_limit_minutes,
                limits.time_limit_minutes,
                1,
            ),
        }
        for field, (asked, allowed, widget_max, minimum) in maxima.items():
            self.fields[field].widget.attrs.update({"min": minimum, "max": widget_max})
            self.fields[field].help_text = limit_text(asked, allowed)
        self.fields["memory_gib"].widget.attrs["step"] = "any"
        types = settings.TALLER_GPU_TYPES
        if types:
            self.fields["gpu_type"].choices = [("", _("Any"))] + [(name, name) for name in types]
            self.fields["gpu_type"].help_text = _("The GPU types this cluster has; needs at least one GPU.")
        else:
            # Nothing to choose from: a copied job's type is kept (and checked) as it was.
            self.fields["gpu_type"] = forms.CharField(required=False, widget=forms.HiddenInput())
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
        asked |= {
            "env": {**env, **secret},
            "secret_env": sorted(secret),
            "memory_mib": int((data["memory_gib"] * 1024).to_integral_value()),
            "source": _source(data),
        }
        try:
            self.request = check_request(self.user, self.project, **asked)
        except ValidationError as error:
            renamed = {"memory_mib": "memory_gib", "source": "source_git"}
            for asked_name, field_name in renamed.items():
                if hasattr(error, "error_dict") and asked_name in error.error_dict:
                    error.error_dict[field_name] = error.error_dict.pop(asked_name)
            apply_errors(self, error)
        return data

    def groups(self) -> dict[str, "FieldGroup"]:
        """The fields in the form's three parts: what to run, its resources (one row), the rest."""
        resources = [name for name in RESOURCE_FIELDS if name in self.fields]
        rest = [name for name in self.fields if name not in resources]
        split = rest.index("time_limit_minutes")
        return {
            "what": FieldGroup(self, rest[:split], errors=True),
            "resources": FieldGroup(self, resources),
            "rest": FieldGroup(self, rest[split:]),
        }


RESOURCE_FIELDS = ("cpu", "memory_gib", "gpus", "gpu_type")


def _source(data: dict) -> dict:
    """The request's source from the form's fields: the repository, its ref, its DVC targets."""
    if not data["source_git"]:
        return {"dvc": data["source_dvc"].split()} if data["source_dvc"].strip() else {}
    source = {"git": data["source_git"], "ref": data["source_ref"]}
    if targets := data["source_dvc"].split():
        source["dvc"] = targets
    return source


class FieldGroup:
    """Some of a form's fields, shown by ``includes/form.html`` as if they were the form (the
    form's own errors go with the first group)."""

    def __init__(self, form: forms.Form, names: list[str], *, errors: bool = False) -> None:
        self.form, self.names, self.errors = form, names, errors

    def __iter__(self):
        return (self.form[name] for name in self.names)

    def non_field_errors(self):
        return self.form.non_field_errors() if self.errors else []


def initial(request: JobRequest) -> dict:
    """The form's starting values for a request (a copied job, a template): every field by name,
    the command as shell words, and the environment without secret values (entered again)."""
    values = request.as_dict()
    values["image"] = request.image or settings.TALLER_DEFAULT_JOB_IMAGE  # empty: the site's
    values["memory_gib"] = (Decimal(request.memory_mib) / 1024).quantize(Decimal("0.001")).normalize()
    command, env, secret = request.command, request.env, set(request.secret_env)
    env = env if isinstance(env, dict) else {}  # a template's, as a site admin typed it
    return values | {
        "command": shlex.join(command) if isinstance(command, list) else str(command),
        "env": format_env(env, secret, secret_lines=False),
        "secret_env": format_env(env, secret, secret_lines=True),
        "source_git": (request.source or {}).get("git", ""),
        "source_ref": (request.source or {}).get("ref", ""),
        "source_dvc": " ".join((request.source or {}).get("dvc") or []),
    }


def initial_from_job(job: Job) -> dict:
    return initial(JobRequest.from_model(job))


def initial_from_template(template: JobTemplate) -> dict:
    return initial(JobRequest.from_model(template, name=template.title[:100]))


def code_source_note() -> str:
    """Where a job's code and data come from on this deployment: the site's sentence
    (TALLER_CODE_SOURCE_NOTE), or one that fits the executor."""
    if settings.TALLER_CODE_SOURCE_NOTE:
        return settings.TALLER_CODE_SOURCE_NOTE
    if settings.TALLER_EXECUTOR == "kubernetes":
        return _(
            "Jobs run in the container image you name: your code and data must be in the image, "
            "or fetched by your command (e.g. git clone or a download); files on your computer are "
            "not sent."
        )
    return _(
        "Jobs run as processes on the portal's own machine, in the portal's folder (the image is "
        "recorded, not used): the command sees the examples/ folder and the files of this machine; "
        "files on your computer are not sent."
    )
