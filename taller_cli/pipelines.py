"""`taller pipeline ...`: run a pipeline from a YAML or JSON file (or only check it), list runs,
show one with its steps, cancel, re-run (all, or from the failed steps). The file is sent as it
is: the portal parses and checks it, so its messages are the same as the browser's."""

import time
from pathlib import Path

import click

from . import output
from .base import TallerError, api, cli, json_option

MAX_RUNS = 500
FINISHED = {"succeeded", "failed", "cancelled"}


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise TallerError(f"cannot read {path}: {error}") from None


def _body(path: str, project: str | None) -> dict:
    body = {"definition": _read(path)}
    if project:
        body["project"] = project
    return body


def _show(run: dict) -> None:
    click.echo(
        output.fields(
            [
                ("run", run.get("id")),
                ("pipeline", run.get("pipeline")),
                ("project", run.get("project")),
                ("status", run.get("status")),
                ("reason", run.get("status_reason")),
                ("mlflow run", run.get("mlflow_run_id")),
            ]
        )
    )
    rows = [
        [
            s.get("name"),
            s.get("status"),
            s.get("job_status") or "",
            s.get("job") or "",
            s.get("attempts"),
            s.get("job_status_reason") if s.get("status") == "submitted" else s.get("reason"),
        ]
        for s in run.get("steps", [])
    ]
    click.echo(output.table(["step", "status", "job status", "job", "attempts", "why"], rows))


@cli.group()
def pipeline() -> None:
    """Run, check, list, show, cancel and re-run pipelines."""


@pipeline.command(name="run")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--project", "-p", help="Slug of the project (or `project:` in the file).")
@click.option("--wait", is_flag=True, help="Follow the run until it ends; exit 1 unless it succeeds.")
@json_option
def run_pipeline(path: str, project: str | None, wait: bool, as_json: bool) -> None:
    """Start a run of the pipeline defined in PATH (YAML or JSON)."""
    client = api()
    run = client.post("pipelines/", _body(path, project))
    if not wait:
        return output.emit_json(run) if as_json else _show(run)
    click.echo(f"pipeline run {run['id']} started", err=True)
    while run.get("status") not in FINISHED:
        time.sleep(3)
        run = client.get(f"pipeline-runs/{run['id']}/")
    output.emit_json(run) if as_json else _show(run)
    if run.get("status") != "succeeded":
        raise TallerError(f"pipeline run {run['id']} {run.get('status')}")


@pipeline.command(name="validate")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--project", "-p", help="Slug of the project (or `project:` in the file).")
def validate_pipeline(path: str, project: str | None) -> None:
    """Check the pipeline in PATH as running it would; nothing is created."""
    answer = api().post("pipelines/validate/", _body(path, project))
    click.echo(f"{answer['name']}: valid, {len(answer['steps'])} step(s): {', '.join(answer['steps'])}")


@pipeline.command(name="define")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--project", "-p", help="Slug of the project (or `project:` in the file).")
def define_pipeline(path: str, project: str | None) -> None:
    """Keep the pipeline in PATH under its name without running it (to schedule it)."""
    answer = api().post("pipelines/define/", _body(path, project))
    click.echo(f"pipeline {answer['name']} saved in {answer['project']}")


@pipeline.command(name="list")
@click.option("--project", "-p", help="Only this project's runs.")
@click.option("--limit", default=50, type=click.IntRange(1, MAX_RUNS), help="How many runs at most.")
@json_option
def list_runs(project: str | None, limit: int, as_json: bool) -> None:
    """Pipeline runs, newest first."""
    rows = api().pages("pipeline-runs/", limit=limit, project=project)[:limit]
    if as_json:
        return output.emit_json(rows)
    click.echo(
        output.table(
            ["run", "pipeline", "project", "status", "started by", "created"],
            [
                [r["id"], r["pipeline"], r["project"], r["status"], r["started_by"], r["created_at"]]
                for r in rows
            ],
        )
    )


@pipeline.command(name="show")
@click.argument("run_id", type=int)
@json_option
def show_run(run_id: int, as_json: bool) -> None:
    """A pipeline run and its steps."""
    run = api().get(f"pipeline-runs/{run_id}/")
    output.emit_json(run) if as_json else _show(run)


@pipeline.command(name="cancel")
@click.argument("run_id", type=int)
def cancel_run(run_id: int) -> None:
    """Cancel the run's running steps and skip the others."""
    run = api().post(f"pipeline-runs/{run_id}/cancel/")
    click.echo(f"pipeline run {run['id']}: {run['status']}")


@pipeline.command(name="rerun")
@click.argument("run_id", type=int)
@click.option("--from-failed", is_flag=True, help="Keep the steps that succeeded; run the others again.")
@json_option
def rerun(run_id: int, from_failed: bool, as_json: bool) -> None:
    """Start a new run of the same pipeline."""
    run = api().post(f"pipeline-runs/{run_id}/rerun/", {"from_failed": from_failed})
    output.emit_json(run) if as_json else _show(run)
