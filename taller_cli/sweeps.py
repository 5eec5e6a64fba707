"""`taller sweep ...`: hyperparameter sweeps (run a sweep file, list, show, pause, resume, stop,
extend)."""

import json
from pathlib import Path

import click
import yaml

from . import output
from .base import TallerError, api, cli, json_option

MAX_SWEEPS = 500


def read_sweep_file(path: Path, project: str | None) -> dict:
    """The sweep of a YAML (or JSON) file, with --project filling in or overriding its project."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise TallerError(f"cannot read {path}: {error}") from None
    except yaml.YAMLError as error:
        raise TallerError(f"{path} is not YAML or JSON: {error}".replace("\n", " ")) from None
    if not isinstance(data, dict):
        raise TallerError(f"{path}: a sweep is a mapping of fields (project, name, command, space ...)")
    if project:
        data["project"] = project
    if not data.get("project"):
        raise TallerError(f"{path}: say which project (project: SLUG in the file, or --project)")
    return data


def _summary(sweep: dict) -> str:
    best = sweep.get("best")
    best_text = f"trial {best['number']}: {best['objective']}" if best else "none yet"
    counts = sweep.get("counts") or {}
    return output.fields(
        [
            ("id", sweep.get("id")),
            ("name", sweep.get("name")),
            ("project", sweep.get("project")),
            ("status", f"{sweep.get('status')} ({sweep.get('status_reason')})"),
            ("algorithm", sweep.get("algorithm")),
            ("objective", f"{sweep.get('direction')} {sweep.get('objective')}"),
            (
                "trials",
                f"{sum(counts.values())} of {sweep.get('max_trials')}, at most {sweep.get('max_parallel')} at once",
            ),
            ("by state", ", ".join(f"{k} {v}" for k, v in counts.items())),
            ("best", best_text),
            ("mlflow run", sweep.get("mlflow_run_id")),
        ]
    )


@cli.group()
def sweep() -> None:
    """Hyperparameter sweeps: each trial an ordinary job under the project's quota."""


@sweep.command(name="run")
@click.option("--project", "-p", help="Slug of the project (else the file's `project`).")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
def run_sweep(project: str | None, path: Path, as_json: bool) -> None:
    """Start the sweep described in PATH (YAML or JSON)."""
    created = api().post("sweeps/", read_sweep_file(path, project))
    if as_json:
        return output.emit_json(created)
    click.echo(f"Sweep {created.get('id')} “{created.get('name')}” started in {created.get('project')}.")


@sweep.command(name="list")
@click.option("--project", "-p", help="Only this project's sweeps.")
@json_option
def list_sweeps(project: str | None, as_json: bool) -> None:
    """Sweeps of the projects you can see, newest first."""
    rows = api().pages("sweeps/", limit=MAX_SWEEPS, **({"project": project} if project else {}))
    if as_json:
        return output.emit_json(rows)
    click.echo(
        output.table(
            ["id", "name", "project", "status", "algorithm", "trials", "best"],
            [
                [
                    s.get("id"),
                    s.get("name"),
                    s.get("project"),
                    s.get("status"),
                    s.get("algorithm"),
                    f"{sum((s.get('counts') or {}).values())}/{s.get('max_trials')}",
                    (s.get("best") or {}).get("objective", ""),
                ]
                for s in rows
            ],
        )
    )


@sweep.command(name="show")
@click.argument("sweep_id", type=int)
@json_option
def show_sweep(sweep_id: int, as_json: bool) -> None:
    """A sweep, its best trial and every trial."""
    data = api().get(f"sweeps/{sweep_id}/")
    if as_json:
        return output.emit_json(data)
    click.echo(_summary(data))
    click.echo(
        output.table(
            ["trial", "params", "state", "job", "objective", "seconds"],
            [
                [
                    t.get("number"),
                    json.dumps(t.get("params"), sort_keys=True),
                    t.get("state") if t.get("state") != "active" else t.get("job_status"),
                    t.get("job"),
                    t.get("objective"),
                    t.get("duration_seconds"),
                ]
                for t in data.get("trials") or []
            ],
        )
    )


def _verb(name: str, done: str):
    @sweep.command(name=name, help=f"{done.capitalize()} the sweep SWEEP_ID.")
    @click.argument("sweep_id", type=int)
    @json_option
    def command(sweep_id: int, as_json: bool) -> None:
        data = api().post(f"sweeps/{sweep_id}/{name}/")
        if as_json:
            return output.emit_json(data)
        click.echo(f"Sweep {sweep_id} {done}: {data.get('status')} ({data.get('status_reason')}).")

    return command


pause = _verb("pause", "paused")
resume = _verb("resume", "resumed")
stop = _verb("stop", "stopped")


@sweep.command(name="extend")
@click.argument("sweep_id", type=int)
@click.argument("trials", type=click.IntRange(min=1))
@json_option
def extend_sweep(sweep_id: int, trials: int, as_json: bool) -> None:
    """Add TRIALS more trials to the sweep SWEEP_ID."""
    data = api().post(f"sweeps/{sweep_id}/extend/", {"trials": trials})
    if as_json:
        return output.emit_json(data)
    click.echo(f"Sweep {sweep_id} now runs up to {data.get('max_trials')} trials ({data.get('status')}).")
