"""Assembling a pipeline in the browser: the builder's forms and the state they carry.

The whole pipeline travels in the builder's one form (no draft is stored): each action (add a
step from a template or an earlier job, remove one, search the pickers, check, save, run) posts
it and gets the builder back. A step has a stable ``key``; ``depends_on`` names earlier steps by
key, so renaming or removing a step does not break what depends on it. The steps become the same
definition the API takes, checked by ``definition.check``; its refusals go beside the field of
the step they name."""

import re
import secrets
import shlex
from decimal import Decimal

import yaml
from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from clusterjobs.forms import initial, initial_from_job, initial_from_template, parse_env
from clusterjobs.models import Job, JobTemplate
from clusterjobs.request import JobRequest

from . import definition

FIELDS = (
    "key", "origin", "name", "image", "command", "env", "cpu", "memory_gib", "gpus", "gpu_type",
    "time_limit_minutes", "experiment", "source_git", "source_ref", "retries", "retry_delay_seconds",
)  # fmt: skip
# Where a refusal's field (the jobs API's or the definition's) is shown on a step's form.
FIELD_OF = {
    "resources.cpu": "cpu",
    "memory_mib": "memory_gib",
    "resources.memory_mib": "memory_gib",
    "resources.gpus": "gpus",
    "resources.gpu_type": "gpu_type",
    "source": "source_git",
    "source.git": "source_git",
    "source.ref": "source_ref",
}


class PipelineForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Pipeline name"), max_length=100)
    experiment = forms.CharField(
        label=gettext_lazy("MLflow experiment"),
        max_length=100,
        initial="default",
        help_text=gettext_lazy("Of the pipeline's parent run, and of the steps that name none."),
    )


class StepForm(forms.Form):
    key = forms.CharField(widget=forms.HiddenInput, max_length=16)
    origin = forms.CharField(widget=forms.HiddenInput, required=False, max_length=300)
    name = forms.CharField(
        label=gettext_lazy("Step name"),
        max_length=63,
        help_text=gettext_lazy("Lowercase letters, digits, - and _; also its job's name."),
    )
    depends_on = forms.MultipleChoiceField(
        label=gettext_lazy("Starts after"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("The earlier steps it waits for (none: it starts at once)."),
    )
    image = forms.CharField(label=gettext_lazy("Image"), max_length=500, required=False)
    command = forms.CharField(
        label=gettext_lazy("Command"),
        max_length=20000,
        help_text=gettext_lazy("Split into arguments as a shell would, never run through a shell."),
    )
    env = forms.CharField(
        label=gettext_lazy("Environment variables"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=gettext_lazy("One NAME=value per line."),
    )
    cpu = forms.DecimalField(label=gettext_lazy("CPU cores"), max_digits=7, decimal_places=3)
    memory_gib = forms.DecimalField(label=gettext_lazy("Memory (GiB)"), max_digits=9, decimal_places=3)
    gpus = forms.IntegerField(label=gettext_lazy("GPUs"), min_value=0)
    gpu_type = forms.CharField(label=gettext_lazy("GPU type"), required=False, max_length=100)
    time_limit_minutes = forms.IntegerField(label=gettext_lazy("Time limit (minutes)"), min_value=1)
    experiment = forms.CharField(
        label=gettext_lazy("MLflow experiment"),
        required=False,
        max_length=100,
        help_text=gettext_lazy("Empty: the pipeline's."),
    )
    source_git = forms.CharField(label=gettext_lazy("Git repository"), required=False, max_length=500)
    source_ref = forms.CharField(label=gettext_lazy("Branch, tag or commit"), required=False, max_length=250)
    retries = forms.IntegerField(
        label=gettext_lazy("Retries"), min_value=0, max_value=definition.MAX_RETRIES, initial=0
    )
    retry_delay_seconds = forms.IntegerField(
        label=gettext_lazy("Retry delay (seconds)"),
        min_value=0,
        max_value=definition.MAX_RETRY_DELAY_SECONDS,
        initial=30,
        help_text=gettext_lazy("Doubled at each retry."),
    )

    def __init__(self, *args, earlier: list[tuple[str, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["depends_on"].choices = earlier

    def clean_command(self) -> list[str]:
        try:
            return shlex.split(self.cleaned_data["command"])
        except ValueError as error:
            raise ValidationError(_("Cannot split the command: %(error)s.") % {"error": error}) from error

    def clean_env(self) -> dict[str, str]:
        return parse_env(self.cleaned_data.get("env", ""))

    def groups(self) -> dict[str, list]:
        """The step's fields in the builder's parts: what it is, what it runs, what it may use."""
        names = {
            "step": ["name", "depends_on", "retries", "retry_delay_seconds"],
            "what": ["image", "command", "env", "experiment", "source_git", "source_ref"],
            "resources": ["cpu", "memory_gib", "gpus", "gpu_type", "time_limit_minutes"],
        }
        return {group: [self[name] for name in fields] for group, fields in names.items()}


def new_key() -> str:
    return secrets.token_hex(4)


def states(post, limit: int) -> list[dict]:
    """The steps as posted (raw values), at most ``limit``."""
    try:
        count = min(max(int(post.get("steps", 0)), 0), limit)
    except ValueError:
        count = 0
    rows = []
    for index in range(count):
        row = {field: post.get(f"step-{index}-{field}", "") for field in FIELDS}
        row["depends_on"] = post.getlist(f"step-{index}-depends_on")
        rows.append(row)
    return rows


def earlier_of(rows: list[dict]) -> list[list[tuple[str, str]]]:
    """For each step, the steps before it (key, name) it may depend on."""
    return [[(row["key"], row["name"] or row["key"]) for row in rows[:index]] for index in range(len(rows))]


def step_forms(rows: list[dict], data=None) -> list[StepForm]:
    """The steps' forms: bound to ``data`` (to check them), or showing ``rows`` as they are."""
    earlier = earlier_of(rows)
    if data is not None:
        return [StepForm(data, prefix=f"step-{i}", earlier=earlier[i]) for i in range(len(rows))]
    return [StepForm(initial=row, prefix=f"step-{i}", earlier=earlier[i]) for i, row in enumerate(rows)]


def _step_name(text: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_")[:56] or "step"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


def _row(values: dict, origin: str, rows: list[dict]) -> dict:
    """A new step's row from a job form's starting values, after the last step."""
    experiment = values.get("experiment") or ""
    return {
        "key": new_key(),
        "origin": origin,
        "name": _step_name(values.get("name") or "step", {row["name"] for row in rows}),
        "image": values.get("image") or "",
        "command": values.get("command") or "",
        "env": values.get("env") or "",
        "cpu": values.get("cpu", Decimal(1)),
        "memory_gib": values.get("memory_gib", Decimal(2)),
        "gpus": values.get("gpus", 0),
        "gpu_type": values.get("gpu_type") or "",
        "time_limit_minutes": values.get("time_limit_minutes", 60),
        "experiment": "" if experiment == "default" else experiment,
        "source_git": values.get("source_git") or "",
        "source_ref": values.get("source_ref") or "",
        "retries": 0,
        "retry_delay_seconds": 30,
        "depends_on": [rows[-1]["key"]] if rows else [],
    }


def row_from_template(template: JobTemplate, rows: list[dict]) -> dict:
    return _row(initial_from_template(template), _("template “%(title)s”") % {"title": template.title}, rows)


def row_from_job(job: Job, rows: list[dict]) -> tuple[dict, str]:
    """A step copied from an earlier job, and a note when its secret variables were left out."""
    row = _row(initial_from_job(job), _("job %(id)s") % {"id": job.pk}, rows)
    secret = ", ".join(job.secret_env_names)
    note = _("The secret variables of job %(id)s were not copied: %(names)s.") % {
        "id": job.pk,
        "names": secret,
    }
    return row, (note if secret else "")


# What a step's source may hold that the builder shows (a pinned commit, a snapshot and DVC
# targets are edited in the definition's YAML).
SHOWN_SOURCE = {"git", "ref"}


def in_order(steps: list[dict]) -> list[dict]:
    """The steps each after those it depends on (a definition may list them in any order; the
    builder offers only earlier steps to wait for), otherwise in the order given."""
    placed: set[str] = set()
    ordered: list[dict] = []
    waiting = list(steps)
    while waiting:
        step = next((s for s in waiting if placed.issuperset(s.get("depends_on", []))), waiting[0])
        waiting.remove(step)
        ordered.append(step)
        placed.add(step["name"])
    return ordered


def without_secrets(data: dict) -> tuple[dict, list[str]]:
    """A saved definition with every secret variable left out (never shown back), and a note per
    step that had some, to enter them again."""
    steps, notes = [], []
    for step in data.get("steps", []):
        secret = [name for name in step.get("secret_env") or [] if name in (step.get("env") or {})]
        if secret:
            step = {**step, "env": {k: v for k, v in step["env"].items() if k not in secret}}
            notes.append(
                _("The secret variables of step “%(step)s” were left out; enter them again: %(names)s.")
                % {"step": step["name"], "names": ", ".join(secret)}
            )
        steps.append({key: value for key, value in step.items() if key != "secret_env"})
    return {**data, "steps": steps}, notes


def readable(data: dict) -> dict:
    """A saved definition without what a step says only by default (no ``depends_on``, no
    retries), as one would write it."""
    steps = []
    for step in data.get("steps", []):
        step = {key: value for key, value in step.items() if key != "depends_on" or value}
        if not step.get("retries"):
            step = {
                key: value for key, value in step.items() if key not in ("retries", "retry_delay_seconds")
            }
        steps.append(step)
    return {**data, "steps": steps}


def rows_from_definition(data: dict) -> list[dict] | None:
    """The builder's steps for a saved definition (``definition.Definition.as_json``, secrets left
    out), or None when a step holds what the builder does not show: that one is edited as YAML."""
    rows: list[dict] = []
    keys: dict[str, str] = {}
    request_fields = {field.name for field in JobRequest.fields()}
    for step in in_order(data.get("steps", [])):
        spec = {key: value for key, value in step.items() if key not in definition.STEP_KEYS}
        spec |= spec.pop("resources", None) or {}
        if set(spec) - request_fields or set(spec.get("source") or {}) - SHOWN_SOURCE:
            return None
        values = initial(JobRequest(**{"image": None, **spec}))
        row = _row(values, "", rows) | {
            "name": step["name"],
            "image": spec.get("image") or "",  # none: the site's default when it runs, as saved
            "experiment": spec.get("experiment") or "",
            "retries": step.get("retries", 0),
            "retry_delay_seconds": step.get("retry_delay_seconds", 30),
            "depends_on": [keys[name] for name in step.get("depends_on", []) if name in keys],
        }
        keys[step["name"]] = row["key"]
        rows.append(row)
    return rows


def remove(rows: list[dict], key: str) -> list[dict]:
    return [
        {**row, "depends_on": [k for k in row["depends_on"] if k != key]} for row in rows if row["key"] != key
    ]


def data_of(pipeline: PipelineForm, forms_: list[StepForm]) -> dict:
    """The definition the forms say (all of them valid), as the API takes it."""
    names = {form.cleaned_data["key"]: form.cleaned_data["name"] for form in forms_}
    steps = []
    for form in forms_:
        data = form.cleaned_data
        resources = {
            "cpu": format(data["cpu"].normalize(), "f"),
            "memory_mib": int((data["memory_gib"] * 1024).to_integral_value()),
            "gpus": data["gpus"],
        }
        if data["gpu_type"]:
            resources["gpu_type"] = data["gpu_type"]
        step = {"name": data["name"]}
        if data["depends_on"]:
            step["depends_on"] = [names[key] for key in data["depends_on"] if key in names]
        if data["retries"]:
            step |= {"retries": data["retries"], "retry_delay_seconds": data["retry_delay_seconds"]}
        if data["image"]:
            step["image"] = data["image"]
        step["command"] = data["command"]
        if data["env"]:
            step["env"] = data["env"]
        step |= {"resources": resources, "time_limit_minutes": data["time_limit_minutes"]}
        if data["experiment"]:
            step["experiment"] = data["experiment"]
        if data["source_git"]:
            step["source"] = {"git": data["source_git"], "ref": data["source_ref"]}
        steps.append(step)
    return {
        "name": pipeline.cleaned_data["name"],
        "experiment": pipeline.cleaned_data["experiment"],
        "steps": steps,
    }


def as_yaml(data: dict) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def place(error: ValidationError, pipeline: PipelineForm, forms_: list[StepForm]) -> None:
    """Each refusal of ``definition.check`` beside the field (of the step) it names."""
    for problem in getattr(error, "problems", []):
        if problem.step is None or problem.step >= len(forms_):
            pipeline.add_error(None, problem.text)
            continue
        form = forms_[problem.step]
        field = FIELD_OF.get(problem.field, problem.field)
        form.add_error(field if field in form.fields else None, problem.message)
    if not hasattr(error, "problems"):
        for field, messages in error.message_dict.items():
            pipeline.add_error(field if field in pipeline.fields else None, messages)


def max_steps() -> int:
    return settings.TALLER_PIPELINE_MAX_STEPS
