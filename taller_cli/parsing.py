"""Parsing of what people type: sizes, durations, CPU amounts, KEY=VALUE pairs; the job body.

Each parser raises ValueError with a message that says what was wrong and what would be right.
"""

import math
import re
from typing import Any

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]i?)?b?\s*$", re.IGNORECASE)
_BYTES = {
    "": 2**20,  # a bare number is MiB
    "k": 10**3,
    "m": 10**6,
    "g": 10**9,
    "t": 10**12,
    "p": 10**15,
    "ki": 2**10,
    "mi": 2**20,
    "gi": 2**30,
    "ti": 2**40,
    "pi": 2**50,
}


def parse_memory_mib(text: str) -> int:
    """'8Gi' -> 8192, '512Mi' -> 512, '2G' -> 1908 (rounded up), '1024' -> 1024 (MiB)."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"invalid size {text!r}: use e.g. 512Mi, 8Gi or 2G")
    number, unit = match.groups()
    mib = math.ceil(float(number) * _BYTES[(unit or "").lower()] / 2**20)
    if mib < 1:
        raise ValueError(f"invalid size {text!r}: at least 1Mi")
    return mib


_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$")


def parse_minutes(text: str) -> int:
    """'2h' -> 120, '90m' -> 90, '1h30m' -> 90, '1d' -> 1440, '45' -> 45 (minutes)."""
    value = text.strip().lower().replace(" ", "")
    if value.isdigit():
        minutes = int(value)
    else:
        match = _DURATION.match(value)
        if not value or not match or not any(match.groups()):
            raise ValueError(f"invalid duration {text!r}: use e.g. 90m, 2h or 1h30m")
        days, hours, mins = (int(group or 0) for group in match.groups())
        minutes = days * 1440 + hours * 60 + mins
    if minutes < 1:
        raise ValueError(f"invalid duration {text!r}: at least 1m")
    return minutes


def parse_cpu(text: str) -> float:
    """CPU cores: '2', '0.5', or Kubernetes millicores '500m'."""
    value = text.strip()
    try:
        cores = float(value[:-1]) / 1000 if value.endswith("m") else float(value)
    except ValueError:
        raise ValueError(f"invalid CPU amount {text!r}: use e.g. 2, 0.5 or 500m") from None
    if not math.isfinite(cores) or cores <= 0:
        raise ValueError(f"invalid CPU amount {text!r}: more than 0")
    return cores


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # fullmatch: "$" would let "FOO\n" through


def parse_env(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """('A=1', 'B=x=y') -> {'A': '1', 'B': 'x=y'}; a repeated name keeps its last value."""
    env: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"invalid environment variable {pair!r}: use NAME=VALUE")
        if not _ENV_NAME.fullmatch(name):
            raise ValueError(f"invalid environment variable name {name!r}: letters, digits and _")
        env[name] = value
    return env


def new_log_lines(seen: list[str], window: list[str]) -> list[str]:
    """The lines of ``window`` (the log's latest lines) that follow what was already printed.

    ``seen`` ends with the last lines printed. The longest start of ``window`` that ``seen`` ends
    with is the overlap; what comes after it is new. Without any overlap every line is new (more
    lines arrived between two polls than a window holds).
    """
    for size in range(min(len(seen), len(window)), 0, -1):
        if seen[-size:] == window[:size]:
            return window[size:]
    return list(window)


NAME_LENGTH = 100  # the portal's limit on a job's name


def default_name(command) -> str:
    """A job needs a name: without --name, the command itself, cut to the portal's limit."""
    text = " ".join(" ".join(command).split())
    return text if len(text) <= NAME_LENGTH else text[: NAME_LENGTH - 3] + "..."


def job_request(*, project, image, command, name, env, resources, time_limit_minutes) -> dict[str, Any]:
    """The body of POST /api/v1/jobs/: what was not given is left to the portal's defaults."""
    body: dict[str, Any] = {
        "project": project,
        "name": name or default_name(command),
        "image": image,
        "command": list(command),
        "env": dict(env),
        "resources": {key: value for key, value in resources.items() if value is not None},
    }
    if not image:
        del body["image"]  # the site's default image (or the template's)
    if time_limit_minutes is not None:
        body["time_limit_minutes"] = time_limit_minutes
    return body
