"""What may be asked of a sweep, checked field by field before anything is created: the job spec
(through the jobs' own ``check_request``, so every field a job gains flows into sweeps), the search
space and its placeholders, the algorithm, the objective, and the limits against the project's
quota."""

from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from clusterjobs import admission
from clusterjobs.request import JobRequest
from clusterjobs.validation import check_request
from portal.projects.models import Project

from . import space
from .models import Algorithm, Direction
from .space import Parameter

MAX_TRIALS = 10_000
MAX_NAME = 90
SWEEP_FIELDS = {
    "name",
    "space",
    "algorithm",
    "objective",
    "direction",
    "max_trials",
    "max_parallel",
    "seed",
    "prune",
}


@dataclass(frozen=True)
class Definition:
    """A sweep as asked, checked: the request of its first trial (placeholders filled with
    examples), and what the sweep row stores."""

    name: str
    spec: dict  # the job's request fields as JSON values, command and env with placeholders
    parameters: list[Parameter]
    algorithm: str
    objective: str
    direction: str
    max_trials: int
    max_parallel: int
    seed: int
    prune: bool = False


def spec_of(request: JobRequest, command: list, env: dict) -> dict:
    """A checked request as JSON values, with the command and environment as written."""
    values = {
        key: str(value) if isinstance(value, Decimal) else value for key, value in request.as_dict().items()
    }
    values.pop("name")
    return values | {"command": list(command), "env": dict(env)}


def _whole(value, field: str, errors: dict, low: int, high: int) -> int:
    if isinstance(value, bool):
        value = None
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        errors[field] = _("Enter a whole number.")
        return 0
    if not low <= number <= high:
        errors[field] = _("Enter a whole number from %(low)s to %(high)s.") % {"low": low, "high": high}
    return number


def parallel_error(project: Project, request: JobRequest, max_parallel: int) -> str | None:
    """Why the project's quota could never hold ``max_parallel`` trials of ``request`` at once."""
    limits = admission.project_limits(project)
    bounds = [
        (limits.max_running_jobs, 1),
        (limits.max_gpus, request.gpus),
        (limits.max_cpu, request.cpu),
        (limits.max_memory_mib, request.memory_mib),
    ]
    fits = [int(Decimal(bound) // Decimal(each)) for bound, each in bounds if bound is not None and each]
    most = min(fits, default=max_parallel)
    if max_parallel > most:
        return _(
            "The project's quota holds at most %(n)s such trials at once: lower max parallel to %(n)s or less."
        ) % {"n": most}
    return None


def check_sweep(user, project: Project, **raw) -> Definition:
    """Check a sweep ``user`` asks for in ``project``; raise ValidationError per field. ``raw``
    holds name, space, algorithm, objective, direction, max_trials, max_parallel, seed and the job's
    request fields (image, command, env, cpu ...). Changes nothing."""
    errors: dict[str, str] = {}
    job_fields = {f.name for f in JobRequest.fields()}
    for key in sorted(set(raw) - job_fields - SWEEP_FIELDS):
        errors[str(key)] = _("Not a field of a sweep.")
        raw.pop(key)
    name = raw.pop("name", "")
    name = name.strip() if isinstance(name, str) else ""
    if not name:
        errors["name"] = _("Give the sweep a name.")
    elif len(name) > MAX_NAME:
        errors["name"] = _("A sweep's name has at most %(n)s characters.") % {"n": MAX_NAME}
    parameters, problems = space.parse_space(raw.pop("space", None))
    if problems:
        errors["space"] = " ".join(problems)
    algorithm = raw.pop("algorithm", Algorithm.TPE)
    if algorithm not in Algorithm.values:
        errors["algorithm"] = _("Choose grid, random or tpe.")
    objective = raw.pop("objective", "")
    objective = objective.strip() if isinstance(objective, str) else ""
    if not objective or len(objective) > 250:
        errors["objective"] = _("Name the MLflow metric the trials log, e.g. val_loss.")
    direction = raw.pop("direction", Direction.MINIMIZE)
    if direction not in Direction.values:
        errors["direction"] = _("Choose minimize or maximize.")
    max_trials = _whole(raw.pop("max_trials", None), "max_trials", errors, 1, MAX_TRIALS)
    max_parallel = _whole(raw.pop("max_parallel", 1), "max_parallel", errors, 1, 1000)
    seed = _whole(raw.pop("seed", 0), "seed", errors, 0, 2**31 - 1)
    prune = raw.pop("prune", False)
    if not isinstance(prune, bool):
        errors["prune"] = _("Say true or false.")

    command = raw.get("command") if isinstance(raw.get("command"), list | tuple) else []
    env = raw.get("env") if isinstance(raw.get("env"), dict) else {}
    used = space.placeholders(list(command), env)
    named = {p.name for p in parameters}
    if missing := sorted(used - named):
        where = "command" if space.placeholders(list(command), {}) & set(missing) else "env"
        errors.setdefault(
            where,
            _("No search space for %(names)s: add it to the space or remove the placeholder.")
            % {"names": ", ".join("{" + n + "}" for n in missing)},
        )
    if not problems and (unused := sorted(named - used)):
        errors["space"] = _("Not used in the command or environment: %(names)s. Write it as {%(first)s}.") % {
            "names": ", ".join(unused),
            "first": unused[0],
        }
    if algorithm == Algorithm.GRID and parameters and not problems:
        size = space.grid_size(parameters)
        if size is None:
            errors["algorithm"] = _(
                "Grid search needs finite dimensions: categorical choices, integers, or floats with a step."
            )
        elif "max_trials" not in errors and size != max_trials:
            errors["max_trials"] = _(
                "The grid has %(size)s points: set max trials to %(size)s (or change the space)."
            ) % {"size": size}

    # The job spec, checked as the first trial's job, with each placeholder an example value.
    examples = {p.name: p.example() for p in parameters}
    filled_command, filled_env = space.substitute(list(command), env, examples)
    request = None
    try:
        request = check_request(
            user,
            project,
            **{**raw, "name": f"{name or 'sweep'} #1", "command": filled_command, "env": filled_env},
        )
    except ValidationError as error:
        for field, messages in error.message_dict.items():
            errors.setdefault(field, " ".join(messages))
    if request is not None and "max_parallel" not in errors:
        if message := parallel_error(project, request, max_parallel):
            errors["max_parallel"] = message
    if errors:
        raise ValidationError(errors)
    return Definition(
        name=name,
        spec=spec_of(request, command, env),
        parameters=parameters,
        algorithm=algorithm,
        objective=objective,
        direction=direction,
        max_trials=max_trials,
        max_parallel=max_parallel,
        seed=seed,
        prune=prune,
    )


def trial_request(user, sweep, number: int, params: dict) -> JobRequest:
    """The job of trial ``number``: the sweep's spec with the trial's values, checked again
    against today's limits and quota."""
    spec = dict(sweep.spec)
    command, env = space.substitute(spec.pop("command"), spec.pop("env"), params)
    return check_request(
        user, sweep.project, **spec, name=f"{sweep.name} #{number}", command=command, env=env
    )
