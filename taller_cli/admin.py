"""Project and quota commands beyond jobs: the quota, archive, approve (site admins), member caps,
the quota preview, and every project's use (site admins), as a table, JSON or CSV."""

import sys

import click

from . import output
from .base import api, cli, converter, json_option
from .parsing import parse_cpu, parse_memory_mib, parse_minutes


@cli.command()
@click.option("--project", "-p", required=True, help="Slug of the project.")
@json_option
def quota(project: str, as_json: bool) -> None:
    """Show a project's quota and what it uses now."""
    answer = api().get(f"projects/{project}/quota/")
    if as_json:
        return output.emit_json(answer)
    click.echo(output.fields(output.flatten(answer)))


@cli.command()
@click.argument("project")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
def archive(project: str, yes: bool, as_json: bool) -> None:
    """Archive a project (owners): it runs no new jobs; its history stays."""
    if not yes:
        click.confirm(f"Archive {project}? It will run no new jobs", abort=True)
    answer = api().post(f"projects/{project}/archive/")
    if as_json:
        return output.emit_json(answer)
    click.echo(f"Project {answer['slug']} archived.")


@cli.command()
@click.argument("project")
@click.option("--reason", default="", help="Why it is approved; shown to its members.")
@click.option("--gpus", type=click.IntRange(min=0), help="Quota: GPUs at once.")
@click.option("--cpu", callback=converter(parse_cpu), help="Quota: CPU cores at once.")
@click.option("--memory", callback=converter(parse_memory_mib), help="Quota: memory at once, e.g. 64Gi.")
@click.option("--jobs", type=click.IntRange(min=0), help="Quota: running jobs at once.")
@click.option("--gpu-hours", help="Quota: GPU-hours per period.")
@click.option("--cpu-hours", help="Quota: CPU-hours per period.")
@json_option
def approve(project, reason, gpus, cpu, memory, jobs, gpu_hours, cpu_hours, as_json) -> None:
    """Approve a pending project (site admins), optionally with its quota (the site's default
    for what is not given)."""
    quota = {
        "max_gpus": gpus,
        "max_cpu": str(cpu) if cpu is not None else None,
        "max_memory_mib": memory,
        "max_running_jobs": jobs,
        "gpu_hours_per_period": gpu_hours,
        "cpu_hours_per_period": cpu_hours,
    }
    body: dict = {"reason": reason}
    if any(value is not None for value in quota.values()):
        body["quota"] = {key: value for key, value in quota.items() if value is not None}
    answer = api().post(f"projects/{project}/approve/", body)
    if as_json:
        return output.emit_json(answer)
    click.echo(f"Project {answer['slug']} approved.")


@cli.command()
@click.argument("project")
@json_option
def members(project: str, as_json: bool) -> None:
    """List a project's members, their roles and caps."""
    rows = api().pages(f"projects/{project}/quota/caps/", limit=10_000)
    if as_json:
        return output.emit_json(rows)
    click.echo(
        output.table(
            ["username", "role", "max gpus", "max running jobs"],
            [[m["username"], m["role"], m["max_gpus"], m["max_running_jobs"]] for m in rows],
        )
    )


@cli.command()
@click.argument("project")
@click.argument("username")
@click.option("--gpus", type=click.IntRange(min=0), help="Most GPUs the member's jobs hold at once.")
@click.option("--jobs", type=click.IntRange(min=0), help="Most jobs of the member running at once.")
@json_option
def cap(project: str, username: str, gpus: int | None, jobs: int | None, as_json: bool) -> None:
    """Set a member's cap inside the project's quota (owners); neither option removes it."""
    answer = api().request(
        "PUT", f"projects/{project}/quota/caps/{username}/", json={"max_gpus": gpus, "max_running_jobs": jobs}
    )
    if as_json:
        return output.emit_json(answer)
    if answer["max_gpus"] is None and answer["max_running_jobs"] is None:
        click.echo(f"{username} has no cap in {project}.")
    else:
        click.echo(output.fields(output.flatten(answer)))


@cli.command()
@click.option("--project", "-p", required=True, help="Slug of the project.")
@click.option("--cpu", callback=converter(parse_cpu), default="1", show_default=True, help="CPU cores.")
@click.option(
    "--memory", callback=converter(parse_memory_mib), default="2Gi", show_default=True, help="Memory."
)
@click.option("--gpus", type=click.IntRange(min=0), default=0, show_default=True, help="GPUs.")
@click.option("--time", "time_limit", callback=converter(parse_minutes), default="1h", show_default=True)
@json_option
def preview(project, cpu, memory, gpus, time_limit, as_json) -> None:
    """Would a job of these resources start now, wait for quota, or be rejected? Holds nothing."""
    answer = api().get(
        f"projects/{project}/quota/preview/",
        cpu=str(cpu),
        memory_mib=memory,
        gpus=gpus,
        time_limit_minutes=time_limit,
    )
    if as_json:
        return output.emit_json(answer)
    click.echo(output.fields(output.flatten(answer)))


@cli.command()
@click.option("--period", help="YYYY-MM, YYYY-Qn, YYYY-Www, YYYY or a day YYYY-MM-DD; this month if absent.")
@click.option("--csv", "as_csv", is_flag=True, help="Print the CSV export instead of a table.")
@json_option
def usage(period: str | None, as_csv: bool, as_json: bool) -> None:
    """Every project's use in a period against its budget (site admins)."""
    client = api()
    if as_csv:
        for chunk in client.download("usage/export.csv", period=period):
            sys.stdout.write(chunk)
        return None
    rows = client.pages("usage/", limit=100_000, period=period)
    if as_json:
        return output.emit_json(rows)
    click.echo(
        output.table(
            ["project", "status", "jobs", "gpu hours", "gpu budget", "cpu hours", "cpu budget"],
            [
                [
                    r["project"],
                    r["status"],
                    r["usage"]["jobs"],
                    r["usage"]["gpu_hours"],
                    r["gpu_hours_per_period"],
                    r["usage"]["cpu_hours"],
                    r["cpu_hours_per_period"],
                ]
                for r in rows
            ],
        )
    )
