"""`taller schedule ...`: run a project's pipeline, or a single job (a template, or a job file),
on a cron expression in a time zone (create, list with the next times, show, pause, resume,
delete)."""

from pathlib import Path

import click
import yaml

from . import output
from .base import TallerError, api, cli, json_option

MAX_SCHEDULES = 1000


@cli.group()
def schedule() -> None:
    """Schedule pipelines and jobs: create, list, show, pause, resume, delete."""


def _target(row: dict) -> str:
    if row.get("pipeline") is not None:
        return f"pipeline {row['pipeline']}"
    name = (row.get("job") or {}).get("name", "")
    return f"job {name}" + (f" (template {row['template']})" if row.get("template") else "")


def _read_job(path: str) -> dict:
    """A job body (as `POST /api/v1/jobs/` takes it) from a YAML or JSON file."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise TallerError(f"cannot read {path}: {error}") from None
    except yaml.YAMLError as error:
        raise TallerError(f"{path} is not YAML or JSON: {error}".replace("\n", " ")) from None
    if not isinstance(data, dict):
        raise TallerError(f"{path}: a job is a mapping of fields (name, command, resources ...)")
    data.pop("project", None)
    return data


def _show(row: dict) -> None:
    click.echo(
        output.fields(
            [
                ("schedule", row["id"]),
                ("project", row["project"]),
                ("runs", _target(row)),
                ("cron", f"{row['cron']} ({row['timezone']})"),
                ("missed times", row["missed"]),
                ("paused", "yes" if row["paused"] else "no"),
                ("next times", ", ".join(row.get("next_times") or []) or "-"),
            ]
        )
    )
    events = row.get("events") or []
    if events:
        click.echo(
            output.table(
                ["due", "outcome", "run", "job", "message"],
                [
                    [e["due_at"], e["outcome"], e["run"] or "", e.get("job") or "", e["message"]]
                    for e in events
                ],
            )
        )


@schedule.command(name="create")
@click.option("--project", "-p", required=True, help="Slug of the project.")
@click.option("--pipeline", help="Name of the pipeline (see `taller pipeline define`).")
@click.option("--template", type=int, help="Id of a job template: schedule a single job made from it.")
@click.option("--job", "job_file", type=click.Path(dir_okay=False),
              help="A YAML or JSON file with a single job (as `POST /api/v1/jobs/` takes it).")  # fmt: skip
@click.option("--cron", required=True, help='Five-field cron expression, e.g. "0 2 * * *".')
@click.option("--tz", "zone", default="UTC", show_default=True, help="Time zone, e.g. Europe/Madrid.")
@click.option("--missed", type=click.Choice(["skip", "once"]), default="skip", show_default=True,
              help="Times missed while the portal was down: skip them, or run once.")  # fmt: skip
@json_option
def create(
    project: str,
    pipeline: str | None,
    template: int | None,
    job_file: str | None,
    cron: str,
    zone: str,
    missed: str,
    as_json: bool,
) -> None:
    """Run a pipeline, or a single job (--template or --job), of PROJECT on CRON."""
    targets = [name for name, value in (("--pipeline", pipeline), ("--template", template),
                                        ("--job", job_file)) if value is not None]  # fmt: skip
    if len(targets) != 1:
        raise TallerError("give one of --pipeline, --template or --job")
    body = {"project": project, "cron": cron, "timezone": zone, "missed": missed}
    if pipeline is not None:
        body["pipeline"] = pipeline
    elif template is not None:
        body["template"] = template
    else:
        body["job"] = _read_job(job_file)
    row = api().post("schedules/", body)
    output.emit_json(row) if as_json else _show(row)


@schedule.command(name="list")
@json_option
def list_schedules(as_json: bool) -> None:
    """Schedules of the projects you can see, with their next time."""
    rows = api().pages("schedules/", limit=MAX_SCHEDULES)
    if as_json:
        return output.emit_json(rows)
    click.echo(
        output.table(
            ["id", "project", "runs", "cron", "time zone", "paused", "next run"],
            [
                [
                    r["id"],
                    r["project"],
                    _target(r),
                    r["cron"],
                    r["timezone"],
                    "yes" if r["paused"] else "no",
                    r["next_run_at"] or "-",
                ]
                for r in rows
            ],
        )  # fmt: skip
    )


@schedule.command(name="show")
@click.argument("schedule_id", type=int)
@json_option
def show(schedule_id: int, as_json: bool) -> None:
    """A schedule, its next five times and its latest events."""
    row = api().get(f"schedules/{schedule_id}/")
    output.emit_json(row) if as_json else _show(row)


@schedule.command(name="pause")
@click.argument("schedule_id", type=int)
def pause(schedule_id: int) -> None:
    """Stop starting runs until resumed."""
    api().post(f"schedules/{schedule_id}/pause/")
    click.echo(f"schedule {schedule_id} paused")


@schedule.command(name="resume")
@click.argument("schedule_id", type=int)
def resume(schedule_id: int) -> None:
    """Start runs again, from the next time on."""
    row = api().post(f"schedules/{schedule_id}/resume/")
    click.echo(f"schedule {schedule_id} resumed; next run {row['next_run_at']}")


@schedule.command(name="delete")
@click.argument("schedule_id", type=int)
def delete(schedule_id: int) -> None:
    """Delete the schedule (its runs stay)."""
    api().request("DELETE", f"schedules/{schedule_id}/")
    click.echo(f"schedule {schedule_id} deleted")
