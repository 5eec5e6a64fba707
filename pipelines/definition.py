"""What a pipeline definition may say, checked before anything is created.

A definition is YAML or JSON: ``name``, an optional ``experiment`` (the MLflow experiment of the
pipeline's parent run, and of the steps that name none), and ``steps``: each an ordinary job body
(the jobs API's, without its project) with a ``name`` and optionally ``depends_on``, ``retries``
and ``retry_delay_seconds``. Every step is checked by the jobs API's own serializer and
``check_request``, so the per-job limits, the project's quota and any field a job gains apply to
steps alike; every refusal names its step."""

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from graphlib import CycleError, TopologicalSorter

import yaml
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from clusterjobs.request import JobRequest

STEP_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
PIPELINE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}")
TOP_KEYS = {"project", "name", "experiment", "steps"}
STEP_KEYS = {"depends_on", "retries", "retry_delay_seconds"}
MAX_RETRIES = 10
MAX_RETRY_DELAY_SECONDS = 3600
MAX_DEFINITION_CHARS = 1_000_000
UPSTREAM_IDS = "UPSTREAM_RUN_IDS"


@dataclass(frozen=True)
class Step:
    name: str
    spec: dict
    depends_on: list[str]
    retries: int
    retry_delay_seconds: int


@dataclass(frozen=True)
class Problem:
    """One refusal of a definition: the step (its position) and field it is about, if any, the
    sentence the API gives (naming the step) and the message to show beside the field."""

    step: int | None
    field: str
    text: str
    message: str


class DefinitionError(ValidationError):
    """A refused definition: the API's {"steps": [sentences]}, and each ``Problem`` to place."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__({"steps": [problem.text for problem in problems]})
        self.problems = problems


@dataclass(frozen=True)
class Definition:
    name: str
    experiment: str
    steps: list[Step]

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "experiment": self.experiment,
            "steps": [
                {
                    **step.spec,
                    "depends_on": step.depends_on,
                    "retries": step.retries,
                    "retry_delay_seconds": step.retry_delay_seconds,
                }
                for step in self.steps
            ],
        }


def parse(text: str) -> dict:
    """A definition's text (YAML, of which JSON is a part) as data; ValidationError if it is not."""
    if len(text) > MAX_DEFINITION_CHARS:
        raise ValidationError({"definition": _("A definition has at most a million characters.")})
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ValidationError(
            {"definition": _("Not valid YAML or JSON: %(error)s") % {"error": " ".join(str(error).split())}}
        ) from error
    if not isinstance(data, dict):
        raise ValidationError({"definition": _("Give an object with a name and a list of steps.")})
    return data


def body_of(request: JobRequest) -> dict:
    """A request as the jobs API's body (without its project): what a step or a job's schedule
    keeps. Defaults and empty values are left out; a source keeps its ref, not the commit it
    named then (a later run fetches the ref again)."""
    body: dict = {}
    for field, group in ((f, f.metadata["group"]) for f in JobRequest.fields()):
        value = getattr(request, field.name)
        if field.name == "source":
            value = {key: value[key] for key in ("git", "ref") if value and value.get(key)}
        if isinstance(value, Decimal):
            value = format(value.normalize(), "f")
        if value in ({}, [], "") or (field.name == "image" and value is None):
            continue
        (body.setdefault(group, {}) if group else body)[field.name] = value
    return body


def upstream_env_name(step: str) -> str:
    """The variable holding the MLflow run id of upstream step ``step``."""
    return "UPSTREAM_" + re.sub(r"[^A-Z0-9]", "_", step.upper()) + "_RUN_ID"


def with_upstream(spec: dict, run_ids: dict[str, str], **context: str) -> dict:
    """A step's job body with what the pipeline tells it in its environment: its upstream steps'
    MLflow run ids, and ``context`` (the run, the attempt) as ``PIPELINE_<NAME>``."""
    env = spec.get("env", {})
    if not isinstance(env, dict):
        return spec  # a bad env is the job check's to refuse
    env = {**env, **{f"PIPELINE_{name.upper()}": value for name, value in context.items()}}
    if run_ids:
        env[UPSTREAM_IDS] = json.dumps(run_ids, sort_keys=True)
        env |= {upstream_env_name(name): run_id for name, run_id in run_ids.items()}
    return {**spec, "env": env}


def job_request(
    user, project, spec: dict, run_ids: dict[str, str], experiment: str, **context: str
) -> JobRequest:
    """The checked job request of a step (the jobs API's serializer, then ``check_request``)."""
    # Imported here, DRF's views first (as a request's URL resolution imports them): the tasks
    # import this module as the apps load, and portal.api, which the serializer imports, is itself
    # named in DRF's settings.
    import rest_framework.views  # noqa: F401

    from clusterjobs.api.serializers import JobSubmitSerializer

    body = with_upstream({"experiment": experiment, **spec}, run_ids, **context)
    serializer = JobSubmitSerializer(data={**body, "project": project.slug})
    if not serializer.is_valid():
        raise ValidationError(_flat(serializer.errors))
    return serializer.to_request(user, project)


def _flat(errors, prefix: str = "") -> dict[str, str]:
    """DRF's nested errors as {"resources.cpu": "message"}."""
    if isinstance(errors, dict):
        flat: dict[str, str] = {}
        for key, value in errors.items():
            flat |= _flat(value, f"{prefix}.{key}" if prefix else str(key))
        return flat
    if isinstance(errors, list) and errors and not isinstance(errors[0], dict | list):
        return {prefix or "step": " ".join(str(e) for e in errors)}
    if isinstance(errors, list):
        flat = {}
        for index, value in enumerate(errors):
            flat |= _flat(value, f"{prefix}[{index}]")
        return flat
    return {prefix or "step": str(errors)}


def _whole(value, low: int, high: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return None
    return value


def _said(errors: list[Problem], step: int | None, field: str, text: str, message: str = "") -> None:
    errors.append(Problem(step, field, text, message or text))


def _step(raw: object, index: int, errors: list[Problem]) -> Step | None:
    if not isinstance(raw, dict):
        _said(
            errors, index, "", _("Step %(n)s: give an object with a name and a command.") % {"n": index + 1}
        )
        return None
    name = raw.get("name")
    if not isinstance(name, str) or not STEP_NAME.fullmatch(name):
        text = _("Step %(n)s: a step's name has 1 to 63 lowercase letters, digits, - or _ (got “%(name)s”).")
        _said(errors, index, "name", text % {"n": index + 1, "name": name})
        return None
    depends_on = raw.get("depends_on", [])
    if isinstance(depends_on, str):
        depends_on = [depends_on]
    if not isinstance(depends_on, list) or not all(isinstance(d, str) for d in depends_on):
        _said(
            errors,
            index,
            "depends_on",
            _("Step “%(step)s”: depends_on is a list of step names.") % {"step": name},
        )
        return None
    retries = _whole(raw.get("retries", 0), 0, MAX_RETRIES)
    delay = _whole(raw.get("retry_delay_seconds", 30), 0, MAX_RETRY_DELAY_SECONDS)
    if retries is None:
        text = _("Step “%(step)s”: retries is a whole number from 0 to %(n)s.")
        _said(errors, index, "retries", text % {"step": name, "n": MAX_RETRIES})
    if delay is None:
        text = _("Step “%(step)s”: retry_delay_seconds is a whole number from 0 to %(n)s.")
        _said(errors, index, "retry_delay_seconds", text % {"step": name, "n": MAX_RETRY_DELAY_SECONDS})
    if retries is None or delay is None:
        return None
    spec = {key: value for key, value in raw.items() if key not in STEP_KEYS}
    return Step(name, spec, list(dict.fromkeys(depends_on)), retries, delay)


def _graph_errors(steps: list[tuple[int, Step]]) -> list[Problem]:
    errors: list[Problem] = []
    seen: set[str] = set()
    for index, step in steps:
        if step.name in seen:
            text = _("Two steps are named “%(step)s”: each step needs its own name.") % {"step": step.name}
            _said(errors, index, "name", text)
        seen.add(step.name)
    for index, step in steps:
        for upstream in step.depends_on:
            if upstream not in seen:
                text = _("Step “%(step)s” depends on “%(upstream)s”, which is not a step of this pipeline.")
                _said(errors, index, "depends_on", text % {"step": step.name, "upstream": upstream})
            elif upstream == step.name:
                _said(
                    errors, index, "depends_on", _("Step “%(step)s” depends on itself.") % {"step": step.name}
                )
    if errors:
        return errors
    try:
        TopologicalSorter({step.name: step.depends_on for _index, step in steps}).prepare()
    except CycleError as error:
        text = _("The steps depend on each other in a cycle: %(cycle)s.") % {
            "cycle": " → ".join(error.args[1])
        }
        _said(errors, None, "depends_on", text)
    return errors


def check(user, project, data: dict) -> Definition:
    """The definition ``data``, checked as a whole; ValidationError naming every culprit."""
    if unknown := sorted(str(key) for key in data if key not in TOP_KEYS):
        raise ValidationError({key: _("Unknown field: a definition does not take it.") for key in unknown})
    name = data.get("name")
    if not isinstance(name, str) or not PIPELINE_NAME.fullmatch(name.strip()):
        raise ValidationError(
            {"name": _("Name the pipeline: up to 100 letters, digits, spaces, dots, - or _.")}
        )
    experiment = data.get("experiment", "default")
    if not isinstance(experiment, str) or not experiment.strip():
        raise ValidationError({"experiment": _("Name the MLflow experiment, e.g. default.")})
    raw_steps = data.get("steps")
    limit = settings.TALLER_PIPELINE_MAX_STEPS
    if not isinstance(raw_steps, list) or not raw_steps:
        raise ValidationError({"steps": _("Give the steps as a non-empty list.")})
    if len(raw_steps) > limit:
        raise ValidationError(
            {
                "steps": _("%(n)s steps: a pipeline has at most %(max)s here.")
                % {"n": len(raw_steps), "max": limit}
            }
        )
    errors: list[Problem] = []
    numbered = [(index, step) for index, raw in enumerate(raw_steps) if (step := _step(raw, index, errors))]
    errors += _graph_errors(numbered)
    if not errors:
        for index, step in numbered:
            placeholder = {upstream: "0" * 32 for upstream in step.depends_on}
            try:
                job_request(
                    user, project, step.spec, placeholder, experiment.strip(), run_id="0", step_attempt="1"
                )
            except ValidationError as error:
                for field, messages in error.message_dict.items():
                    text = _("Step “%(step)s”: %(field)s: %(message)s")
                    message = " ".join(messages)
                    _said(
                        errors,
                        index,
                        field,
                        text % {"step": step.name, "field": field, "message": message},
                        message,
                    )
    if errors:
        raise DefinitionError(errors)
    return Definition(name.strip(), experiment.strip(), [step for _index, step in numbered])
