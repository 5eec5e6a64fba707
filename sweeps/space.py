"""A sweep's search space and its placeholders, as plain values: what may be asked, checked field by
field, and what a trial's parameters turn a job's command and environment into. No Django models,
no Optuna (``sampler.py`` turns these into Optuna's distributions)."""

import math
import re
from dataclasses import dataclass

from django.utils.translation import gettext as _

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
KINDS = ("float", "log_uniform", "int", "categorical")
MAX_PARAMETERS = 20
MAX_CHOICES = 100


@dataclass(frozen=True)
class Parameter:
    """One dimension: a float range (optionally stepped), a log-uniform range, an integer range
    (step 1 unless given) or a list of categorical choices."""

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: tuple = ()

    def as_dict(self) -> dict:
        if self.kind == "categorical":
            return {"type": self.kind, "choices": list(self.choices)}
        shown = {"type": self.kind, "low": self.low, "high": self.high}
        return shown | ({"step": self.step} if self.step is not None else {})

    def describe(self) -> str:
        if self.kind == "categorical":
            return "categorical(" + ", ".join(str(c) for c in self.choices) + ")"
        step = f", step {self.step}" if self.step is not None else ""
        return f"{self.kind}({self.low}, {self.high}{step})"

    def example(self):
        """A value of the space, to check the job spec with before any trial exists."""
        if self.kind == "categorical":
            return self.choices[0]
        return int(self.low) if self.kind == "int" else self.low

    def grid(self) -> list | None:
        """Every value of a finite dimension, or None (a continuous range has no grid)."""
        if self.kind == "categorical":
            return list(self.choices)
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        if self.kind == "float" and self.step:
            count = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
            return [round(self.low + i * self.step, 12) for i in range(count)]
        return None


def _number(value, whole: bool) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = int(value) if whole and str(value).lstrip("-").isdigit() else float(value)
    except ValueError:
        return None
    if whole and number != int(number):
        return None
    return int(number) if whole else number if math.isfinite(number) else None


def _parameter(name: str, raw) -> tuple[Parameter | None, str | None]:
    """The parameter ``raw`` describes, or why it cannot be one."""
    if not isinstance(raw, dict):
        return None, _("%(name)s: give an object with a type (float, log_uniform, int, categorical).") % {
            "name": name
        }
    kind = raw.get("type")
    if kind not in KINDS:
        return None, _("%(name)s: the type must be one of float, log_uniform, int, categorical.") % {
            "name": name
        }
    unknown = (
        set(raw) - {"type", "choices"}
        if kind == "categorical"
        else set(raw) - {"type", "low", "high", "step"}
    )
    if unknown:
        return None, _("%(name)s: unknown keys %(keys)s.") % {
            "name": name,
            "keys": ", ".join(sorted(unknown)),
        }
    if kind == "categorical":
        choices = raw.get("choices")
        if not isinstance(choices, list) or not choices:
            return None, _("%(name)s: give a non-empty list of choices.") % {"name": name}
        if len(choices) > MAX_CHOICES or not all(
            isinstance(c, str | int | float) and not isinstance(c, bool) for c in choices
        ):
            return None, _("%(name)s: at most %(n)s choices, each a string or a number.") % {
                "name": name,
                "n": MAX_CHOICES,
            }
        if len(set(choices)) != len(choices):
            return None, _("%(name)s: the choices repeat a value.") % {"name": name}
        return Parameter(name, kind, choices=tuple(choices)), None
    whole = kind == "int"
    low, high = _number(raw.get("low"), whole), _number(raw.get("high"), whole)
    if low is None or high is None:
        what = _("whole numbers") if whole else _("numbers")
        return None, _("%(name)s: give low and high as %(what)s.") % {"name": name, "what": what}
    if low >= high:
        return None, _("%(name)s: the range is empty or inverted (low %(low)s, high %(high)s).") % {
            "name": name,
            "low": low,
            "high": high,
        }
    if kind == "log_uniform" and low <= 0:
        return None, _("%(name)s: a log-uniform range needs low above 0.") % {"name": name}
    step = None
    if raw.get("step") is not None:
        if kind == "log_uniform":
            return None, _("%(name)s: a log-uniform range takes no step.") % {"name": name}
        step = _number(raw["step"], whole)
        if step is None or step <= 0 or step > high - low:
            return None, _("%(name)s: the step must be above 0 and at most high − low.") % {"name": name}
    return Parameter(
        name, kind, float(low) if not whole else low, float(high) if not whole else high, step
    ), None


def parse_space(raw) -> tuple[list[Parameter], list[str]]:
    """The parameters of ``raw`` ({name: {type, ...}}) and the problems found, one line each."""
    if not isinstance(raw, dict) or not raw:
        return [], [
            _(
                "Give the search space as an object of parameters, e.g. lr: {type: log_uniform, low: 0.0001, high: 0.1}."
            )
        ]
    if len(raw) > MAX_PARAMETERS:
        return [], [_("At most %(n)s parameters.") % {"n": MAX_PARAMETERS}]
    parameters, problems = [], []
    for name, spec in raw.items():
        if not isinstance(name, str) or not PLACEHOLDER.fullmatch("{" + name + "}"):
            problems.append(
                _("“%(name)s” is not a parameter name: use letters, digits and _.") % {"name": name}
            )
            continue
        parameter, problem = _parameter(name, spec)
        if problem:
            problems.append(problem)
        else:
            parameters.append(parameter)
    return parameters, problems


def placeholders(command: list, env: dict) -> set[str]:
    """The names written as {name} in the command's arguments and the environment's values."""
    texts = [a for a in command if isinstance(a, str)] + [v for v in env.values() if isinstance(v, str)]
    return {name for text in texts for name in PLACEHOLDER.findall(text)}


def text_of(value) -> str:
    """A parameter's value as the command receives it (and as the trial's run records it)."""
    return repr(value) if isinstance(value, float) else str(value)


def substitute(command: list, env: dict, params: dict) -> tuple[list, dict]:
    """The command and environment with each {name} of ``params`` replaced by its value."""

    def fill(text):
        if not isinstance(text, str):
            return text
        return PLACEHOLDER.sub(lambda m: text_of(params[m[1]]) if m[1] in params else m[0], text)

    return [fill(a) for a in command], {k: fill(v) for k, v in env.items()}


def grid_size(parameters: list[Parameter]) -> int | None:
    """How many points the grid of ``parameters`` has; None when a dimension is continuous."""
    size = 1
    for parameter in parameters:
        values = parameter.grid()
        if values is None:
            return None
        size *= len(values)
    return size
