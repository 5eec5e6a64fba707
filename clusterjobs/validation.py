"""What may be asked of a job: the checks that build the one ``JobRequest`` (``request.py``).

``check_request`` checks every field a request has, and the project's quota, and gives a
``JobRequest``; a new field of the request has its check here.
"""

import dataclasses
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from portal.projects.models import Project

from . import admission
from .request import JobRequest
from .sources.check import check_source

# Matched in full (fullmatch): with match and "$", "FOO\n" would pass, since "$" matches before a
# final newline.
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
GPU_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
RESERVED_ENV_PREFIXES = ("MLFLOW_", "TALLER_")
MAX_COMMAND_ARGS = 200
MAX_ARG_LENGTH = 4096
MAX_ENV_VARS = 100
MAX_ENV_VALUE_LENGTH = 8192


@dataclass(frozen=True)
class JobLimits:
    cpu: Decimal
    memory_mib: int
    gpus: int
    time_limit_minutes: int


def job_limits() -> JobLimits:
    """The per-job maxima of this site (a project's quota may be lower)."""
    return JobLimits(
        cpu=Decimal(settings.TALLER_MAX_JOB_CPU),
        memory_mib=settings.TALLER_MAX_JOB_MEMORY_MIB,
        gpus=settings.TALLER_MAX_JOB_GPUS,
        time_limit_minutes=settings.TALLER_MAX_JOB_TIME_LIMIT_MINUTES,
    )


def effective_limits(project: Project) -> JobLimits:
    """The most one job of ``project`` may ask: the site's per-job maxima, lowered by the
    project's quota where it is lower. The form's help and every limit error cite these."""
    site = job_limits()
    # Read afresh (a quota cached on the project may be out of date), through the relation: the
    # jobs app does not import portal.quotas.
    quota = project._meta.get_field("quota").related_model.objects.filter(project_id=project.pk).first()
    if quota is None:
        return site

    def lower(own, quota_max):
        return own if quota_max is None else min(own, quota_max)

    return JobLimits(
        cpu=lower(site.cpu, quota.max_cpu),
        memory_mib=lower(site.memory_mib, quota.max_memory_mib),
        gpus=lower(site.gpus, quota.max_gpus),
        time_limit_minutes=lower(site.time_limit_minutes, quota.max_time_limit_minutes),
    )


def plain_number(value: Decimal | int) -> str:
    """A limit as people read it: 8 cores rather than 8.000 (which reads as eight thousand in
    Spanish), 0.5 with the reader's decimal mark."""
    if isinstance(value, Decimal):
        value = value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()
    return formats.number_format(value)


def limit_text(field: str, n: Decimal | int) -> str:
    """The one sentence saying a field's limit: the form's help and the error of a value over it."""
    if field == "cpu":
        return _("At most %(n)s CPU cores for one job here.") % {"n": plain_number(n)}
    if field == "memory_mib":
        gib = (Decimal(n) / 1024).quantize(Decimal("0.01"))
        return _("At most %(gib)s GiB (%(mib)s MiB) for one job here.") % {
            "gib": plain_number(gib),
            "mib": n,
        }
    if field == "gpus":
        return ngettext("At most %(n)s GPU for one job here.", "At most %(n)s GPUs for one job here.", n) % {
            "n": n
        }
    return ngettext(
        "At most %(n)s minute for one job here.", "At most %(n)s minutes for one job here.", n
    ) % {"n": n}


def gpu_type_error(gpu_type: str, gpus: int) -> str | None:
    """Why ``gpu_type`` cannot be asked with ``gpus`` GPUs on this site, or None."""
    types = settings.TALLER_GPU_TYPES
    if not gpu_type:
        return None
    if gpus == 0:
        return _("A GPU type needs at least one GPU.")
    if types and gpu_type not in types:
        return _("This cluster has these GPU types: %(types)s.") % {"types": ", ".join(types)}
    if len(gpu_type) > 100 or not GPU_TYPE.fullmatch(gpu_type):
        return _("Use the GPU product name, e.g. NVIDIA-A100-SXM4-40GB.")
    return None


def env_name_error(name: object) -> str | None:
    """Why ``name`` cannot be a job's environment variable, or None."""
    if not isinstance(name, str) or not ENV_NAME.fullmatch(name):
        return _(
            "“%(name)s” is not a valid variable name: use letters, digits and _, not starting with a digit."
        ) % {"name": name}
    if name.upper().startswith(RESERVED_ENV_PREFIXES):
        return _("“%(name)s” is reserved: the portal sets MLFLOW_* and TALLER_* variables itself.") % {
            "name": name
        }
    return None


def image_error(image: str) -> str | None:
    if not image or any(ch.isspace() for ch in image):
        return _("Give an image reference without spaces, e.g. python:3.11-slim.")
    if len(image) > 500:
        return _("An image reference has at most 500 characters.")
    prefixes = settings.TALLER_ALLOWED_IMAGE_PREFIXES
    if prefixes and not any(image.startswith(prefix) for prefix in prefixes):
        return _("Images must come from an allowed registry: %(prefixes)s.") % {
            "prefixes": ", ".join(prefixes)
        }
    return None


def _whole(value: object, field: str, errors: dict, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(str(value))
        except (TypeError, ValueError):
            errors[field] = _("Enter a whole number.")
            return 0
    if value < minimum:
        errors[field] = _("Enter at least %(n)s.") % {"n": minimum}
    elif value > maximum:
        errors[field] = limit_text(field, maximum)
    return value


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _check_command(command: object, errors: dict) -> list[str]:
    if not isinstance(command, list | tuple) or not command:
        errors["command"] = _("Give the command as a non-empty list of arguments.")
    elif not all(isinstance(arg, str) for arg in command):
        errors["command"] = _("Every argument of the command must be a string.")
    elif not command[0].strip():
        errors["command"] = _("The first argument names the program to run; it cannot be empty.")
    elif len(command) > MAX_COMMAND_ARGS or any(len(arg) > MAX_ARG_LENGTH for arg in command):
        errors["command"] = _("The command is too long: at most %(n)s arguments of %(m)s characters.") % {
            "n": MAX_COMMAND_ARGS,
            "m": MAX_ARG_LENGTH,
        }
    return list(command) if isinstance(command, list | tuple) else []


def _check_env(env: object, secret_env: object, errors: dict) -> tuple[dict, list[str]]:
    env = {} if env is None else env
    if not isinstance(env, dict):
        errors["env"] = _("Give the environment as an object of names and values.")
        env = {}
    else:
        problems = [env_name_error(key) for key in env]
        problems += [
            _("The value of %(name)s must be a string.") % {"name": key}
            for key, value in env.items()
            if not isinstance(value, str)
        ]
        problems += [
            _("The value of %(name)s is too long.") % {"name": key}
            for key, value in env.items()
            if isinstance(value, str) and len(value) > MAX_ENV_VALUE_LENGTH
        ]
        if len(env) > MAX_ENV_VARS:
            problems.append(_("At most %(n)s variables.") % {"n": MAX_ENV_VARS})
        if problems := [problem for problem in problems if problem]:
            errors["env"] = " ".join(problems)
    if not isinstance(secret_env, list | tuple) or not all(isinstance(n, str) for n in secret_env):
        errors["secret_env"] = _("Give the secret variables as a list of names.")
        secret_env = []
    elif unknown := [n for n in secret_env if n not in env]:
        errors["secret_env"] = _("Not in the environment: %(names)s.") % {"names": ", ".join(unknown)}
    return dict(env), sorted(set(secret_env))


def _check_cpu(cpu: object, maximum: Decimal, errors: dict) -> Decimal:
    try:
        cpu = Decimal(str(cpu))
        if not cpu.is_finite():
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        errors["cpu"] = _("Enter a number of CPU cores, e.g. 0.5 or 2.")
        return Decimal(0)
    if cpu <= 0:
        errors["cpu"] = _("Ask for more than 0 CPU cores.")
    elif cpu > maximum:
        errors["cpu"] = limit_text("cpu", maximum)
    elif cpu != cpu.quantize(Decimal("0.001")):
        errors["cpu"] = _("Use at most three decimals (millicores).")
    return cpu


def check_request(user, project: Project, **raw) -> JobRequest:
    """Check what ``user`` asks to run in ``project`` (the keyword arguments are the fields of
    ``JobRequest``; a missing one takes its default, a missing image the site's) and return it as
    a ``JobRequest``; raise ValidationError, per field. Changes nothing: the form also calls it as
    you type. Whether the user may submit in the project is the caller's check (``access``)."""
    defaults = {f.name: f.default for f in JobRequest.fields() if f.default is not dataclasses.MISSING}
    raw = {**defaults, "env": {}, "secret_env": [], "source": {}, **raw}
    errors: dict[str, str] = {}
    if not project.is_active():
        errors["project"] = _("The project is %(status)s: only an active project runs jobs.") % {
            "status": project.get_status_display()
        }
    name = _text(raw.get("name"))
    if not name:
        errors["name"] = _("Give the job a name.")
    elif len(name) > 100:
        errors["name"] = _("A name has at most 100 characters.")
    image = settings.TALLER_DEFAULT_JOB_IMAGE if raw.get("image") is None else _text(raw["image"])
    if message := image_error(image):
        errors["image"] = message
    command = _check_command(raw.get("command"), errors)
    env, secret_env = _check_env(raw["env"], raw["secret_env"], errors)

    limits = effective_limits(project)
    cpu = _check_cpu(raw["cpu"], limits.cpu, errors)
    memory_mib = _whole(raw["memory_mib"], "memory_mib", errors, 16, limits.memory_mib)
    gpus = _whole(raw["gpus"], "gpus", errors, 0, limits.gpus)
    time_limit_minutes = _whole(
        raw["time_limit_minutes"], "time_limit_minutes", errors, 1, limits.time_limit_minutes
    )
    gpu_type = _text(raw["gpu_type"])
    if message := gpu_type_error(gpu_type, 1 if errors.get("gpus") else gpus):
        errors["gpu_type"] = message
    experiment = _text(raw["experiment"])
    if not experiment:
        errors["experiment"] = _("Name the MLflow experiment, e.g. default.")
    elif len(experiment) > 100 or "/" in experiment:
        errors["experiment"] = _("An experiment name has at most 100 characters and no “/”.")
    source = check_source(project, raw["source"], errors)  # after the rest: one ls-remote at most

    # The project's quota, for the fields that passed the per-job checks (the others count as 0).
    asked = {"cpu": cpu, "memory_mib": memory_mib, "gpus": gpus, "time_limit_minutes": time_limit_minutes}
    try:
        admission.check_submission(
            project,
            **{field: 0 if field in errors else value for field, value in asked.items()},
            submitter=user,
            lock=False,
        )
    except ValidationError as error:
        for field_name, messages in error.message_dict.items():
            errors.setdefault(field_name, " ".join(messages))
    if errors:
        raise ValidationError(errors)
    return JobRequest(
        name=name,
        image=image,
        command=command,
        env=env,
        secret_env=secret_env,
        cpu=cpu,
        memory_mib=memory_mib,
        gpus=gpus,
        gpu_type=gpu_type,
        time_limit_minutes=time_limit_minutes,
        experiment=experiment,
        source=source,
    )


def recheck(user, project: Project, request: JobRequest) -> JobRequest:
    """A request made earlier (a re-run), checked again against today's limits and quota."""
    return check_request(user, project, **request.as_dict())
