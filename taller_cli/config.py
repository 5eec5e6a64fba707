"""Where the command line finds its portal and token: TALLER_URL/TALLER_TOKEN, else `taller login`'s file."""

import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import click


class ConfigError(Exception):
    pass


@dataclass
class Settings:
    url: str
    token: str


def config_path() -> Path:
    """The file `taller login` writes: ~/.config/taller/config.json on Linux (honours XDG_CONFIG_HOME)."""
    return Path(click.get_app_dir("taller")) / "config.json"


def normalize_url(url: str) -> str:
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ConfigError(f"invalid portal URL {url!r}: use e.g. https://taller.example.edu")
    return url


def load_settings() -> Settings:
    """The environment wins over the file, variable by variable."""
    stored: dict = {}
    path = config_path()
    if path.exists():
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise ConfigError(f"cannot read {path}: {error}; run `taller login` again") from None
        if not isinstance(stored, dict):
            raise ConfigError(f"cannot read {path}: not a JSON object; run `taller login` again")
    url = os.environ.get("TALLER_URL") or stored.get("url")
    token = os.environ.get("TALLER_TOKEN") or stored.get("token")
    if not url or not token:
        raise ConfigError("not logged in: run `taller login` or set TALLER_URL and TALLER_TOKEN")
    return Settings(url=normalize_url(url), token=token)


def save_settings(settings: Settings) -> Path:
    """Write the URL and token readable by the user alone (0600, in a 0700 folder)."""
    path = config_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # also when the file existed with looser permissions
    with os.fdopen(fd, "w") as file:
        json.dump({"url": settings.url, "token": settings.token}, file)
        file.write("\n")
    return path
