"""The `taller` command line. Every failure exits non-zero with exactly one line on stderr:
2 for a usage error, 1 for anything else (the portal's answer, the network, a failed job)."""

import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click

from . import output
from .client import Api, ApiError, TallerError, api  # noqa: F401 (api, TallerError: the commands')
from .config import ConfigError, Settings, config_path, load_settings, normalize_url, save_settings
from .parsing import (  # noqa: F401 (default_name, job_request: the names scripts and tests import)
    default_name,
    job_request,
    new_log_lines,
    parse_cpu,
    parse_env,
    parse_memory_mib,
    parse_minutes,
)
from .sources import source_body, source_options
from .template_use import find_template, with_template

TERMINAL = {"succeeded", "failed", "cancelled"}


def fail(message: str, code: int) -> None:
    click.echo(f"taller: error: {' '.join(str(message).split())}", err=True)
    sys.exit(code)


class TallerGroup(click.Group):
    """Turns click's multi-line usage errors and our failures into one line on stderr."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as error:
            click.echo(error.format_message())
            sys.exit(0)
        except click.UsageError as error:
            hint = f" (see `{error.ctx.command_path} --help`)" if error.ctx is not None else ""
            fail(error.format_message() + hint, 2)
        except click.Abort:
            fail("aborted", 1)
        except click.ClickException as error:
            fail(error.format_message(), error.exit_code or 1)
        except (TallerError, ApiError, ConfigError) as error:
            fail(str(error), 1)
        except KeyboardInterrupt:
            fail("interrupted", 130)
        sys.exit(result if isinstance(result, int) else 0)


def json_option(func: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts instead of a table.")(
        func
    )


def converter(parse: Callable[[str], Any]) -> Callable:
    """A click callback that turns a parser's ValueError into a usage error (exit status 2)."""

    def callback(ctx, param, value):
        if value is None:
            return None
        try:
            return parse(value)
        except ValueError as error:
            raise click.BadParameter(str(error)) from None

    return callback


@click.group(cls=TallerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="taller", prog_name="taller")
def cli() -> None:
    """Submit and follow jobs, and read runs and quotas, on a Taller research computing portal.

    Configure once with `taller login`, or set TALLER_URL and TALLER_TOKEN.
    """


@cli.command()
@click.option("--url", help="Address of the portal, e.g. https://taller.example.edu.")
@click.option("--token", help="An API token from your account page (asked without echo if omitted).")
def login(url: str | None, token: str | None) -> None:
    """Check a portal URL and API token, and save them for the next commands (file mode 0600)."""
    url = url or click.prompt("Portal URL")
    token = (token or click.prompt("API token", hide_input=True)).strip()
    try:
        settings = Settings(url=normalize_url(url), token=token)
    except ConfigError as error:
        raise click.BadParameter(str(error), param_hint="'--url'") from None
    if not token:
        raise click.BadParameter("the token is empty", param_hint="'--token'")
    projects = Api(settings.url, settings.token).get("projects/")
    path = save_settings(settings)
    count = projects.get("count", len(projects.get("results", [])))
    click.echo(f"Logged in to {settings.url}: the token works and sees {count} project(s). Saved in {path}.")


@cli.command()
@click.option("--status", type=click.Choice(["pending", "active", "rejected", "archived"]))
@json_option
def projects(status: str | None, as_json: bool) -> None:
    """List the projects you can see."""
    rows = api().pages("projects/", limit=10_000, status=status)
    if as_json:
        return output.emit_json(rows)
    click.echo(
        output.table(
            ["slug", "name", "status", "role"],
            [[p.get("slug"), p.get("name"), p.get("status"), p.get("role")] for p in rows],
        )
    )


def _job_line(job: dict) -> str:
    reason = f": {job['status_reason']}" if job.get("status_reason") else ""
    return f"job {job.get('id')} {job.get('status')}{reason}"


def wait_for(client: Api, job: dict, interval: float, quiet: bool) -> dict:
    """Poll a job until it ends; print each status change unless quiet."""
    last = None
    while True:
        if job.get("status") != last and not quiet:
            click.echo(_job_line(job))
        last = job.get("status")
        if last in TERMINAL:
            return job
        time.sleep(interval)
        job = client.get(f"jobs/{job['id']}/")


def finish(job: dict, as_json: bool) -> None:
    """The exit of `submit --wait`: 0 if the job succeeded, else 1 with its reason on stderr."""
    if as_json:
        output.emit_json(job)
    if job.get("status") != "succeeded":
        exit_code = f" (exit code {job['exit_code']})" if job.get("exit_code") is not None else ""
        reason = job.get("status_reason") or "no reason given"
        raise TallerError(f"job {job.get('id')} {job.get('status')}{exit_code}: {reason}")


@cli.command(context_settings={"allow_interspersed_args": False})
@click.option("--project", "-p", required=True, help="Slug of the project to run in.")
@click.option(
    "--image", "-i", help="Container image, e.g. registry.example.edu/lab/train:1 (default: the site's)."
)
@click.option("--template", "-t", help="Start from the project's template of this title (or id).")
@click.option("--name", "-n", help="A name for the job (default: the command).")
@click.option("--gpus", type=click.IntRange(min=0), help="Number of GPUs.")
@click.option("--gpu-type", help="GPU model, if the cluster offers several.")
@click.option("--cpu", callback=converter(parse_cpu), help="CPU cores: 2, 0.5 or 500m.")
@click.option(
    "--memory", callback=converter(parse_memory_mib), help="Memory: 512Mi, 8Gi, 2G (a number: MiB)."
)
@click.option("--time", "time_limit", callback=converter(parse_minutes), help="Time limit: 90m, 2h, 1h30m.")
@click.option("--env", "-e", "env", multiple=True, help="NAME=VALUE for the job's environment (repeatable).")
@click.option("--wait", "-w", is_flag=True, help="Follow the job to its end; exit 0 only if it succeeded.")
@click.option("--poll-interval", type=click.FloatRange(min=0.05), default=2.0, show_default=True, hidden=True)
@source_options
@json_option
@click.argument("command", nargs=-1)
def submit(
    project,
    image,
    template,
    name,
    gpus,
    gpu_type,
    cpu,
    memory,
    time_limit,
    env,
    wait,
    poll_interval,
    as_json,
    command,
    **source,
):
    """Submit COMMAND (after `--`) as a job: taller submit -p P -i IMAGE -- python train.py --lr 0.1
    (or taller submit -p P --template NAME)"""
    if not command and not template:
        raise click.UsageError("give the command after --, or --template NAME")
    try:
        environment = parse_env(env)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="'--env'") from None
    body = job_request(
        project=project,
        image=image,
        command=command,
        name=name,
        env=environment,
        resources={"cpu": cpu, "memory_mib": memory, "gpus": gpus, "gpu_type": gpu_type},
        time_limit_minutes=time_limit,
    ) | source_body(project, **source)
    client = api()
    if template:
        body = with_template(find_template(client, project, template), body)
    job = client.post("jobs/", body)
    if not wait:
        return output.emit_json(job) if as_json else click.echo(f"Submitted {_job_line(job)}")
    if not as_json:
        click.echo(
            f"Submitted job {job.get('id')}; waiting for it to end (Ctrl-C stops waiting, not the job)."
        )
    finish(wait_for(client, job, poll_interval, quiet=as_json), as_json)


@cli.command()
@click.option("--project", "-p", help="Only this project's jobs.")
@click.option("--status", "-s", help="Only jobs in this status (queued, running, succeeded, failed ...).")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="At most this many.")
@json_option
def jobs(project, status, limit, as_json) -> None:
    """List your projects' jobs, newest first."""
    rows = api().pages("jobs/", limit=limit, project=project, status=status)
    if as_json:
        return output.emit_json(rows)
    click.echo(
        output.table(
            ["id", "project", "name", "status", "created"],
            [
                [j.get("id"), j.get("project"), j.get("name"), j.get("status"), j.get("created_at")]
                for j in rows
            ],
        )
    )


JOB_FIELDS = [
    "id",
    "project",
    "name",
    "status",
    "status_reason",
    "exit_code",
    "image",
    "command",
    "resources",
    "time_limit_minutes",
    "mlflow_run_id",
    "created_at",
    "started_at",
    "finished_at",
]


@cli.command()
@click.argument("job_id", type=click.IntRange(min=1), metavar="ID")
@json_option
def status(job_id: int, as_json: bool) -> None:
    """Show one job: status and its reason, times, exit code, MLflow run."""
    job = api().get(f"jobs/{job_id}/")
    if as_json:
        return output.emit_json(job)
    keys = [key for key in JOB_FIELDS if key in job] + [key for key in job if key not in JOB_FIELDS]
    click.echo(output.fields((key, job[key]) for key in keys))


@cli.command()
@click.argument("job_id", type=click.IntRange(min=1), metavar="ID")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until the job ends.")
@click.option("--tail", "-n", type=click.IntRange(min=1), help="Only the last N lines.")
@click.option("--poll-interval", type=click.FloatRange(min=0.05), default=2.0, show_default=True, hidden=True)
def logs(job_id: int, follow: bool, tail: int | None, poll_interval: float) -> None:
    """Print a job's output."""
    client = api()
    answer = client.get(f"jobs/{job_id}/logs/", tail=tail)
    seen = list(answer.get("lines", []))
    for line in seen:
        click.echo(line)
    window = 1000
    while follow and not answer.get("complete", True):
        time.sleep(poll_interval)
        answer = client.get(f"jobs/{job_id}/logs/", tail=window)
        fresh = new_log_lines(seen[-window:], answer.get("lines", []))
        for line in fresh:
            click.echo(line)
        seen = (seen + fresh)[-window:]


@cli.command()
@click.argument("job_id", type=click.IntRange(min=1), metavar="ID")
@json_option
def cancel(job_id: int, as_json: bool) -> None:
    """Cancel a job that has not ended."""
    job = api().post(f"jobs/{job_id}/cancel/")
    output.emit_json(job) if as_json else click.echo(_job_line(job))


@cli.command()
@click.argument("job_id", type=click.IntRange(min=1), metavar="ID")
@json_option
def rerun(job_id: int, as_json: bool) -> None:
    """Submit a job again, with the same image, command and resources."""
    job = api().post(f"jobs/{job_id}/rerun/")
    output.emit_json(job) if as_json else click.echo(f"Submitted {_job_line(job)} (rerun of job {job_id})")


def run_row(run: dict, metric_names: list[str]) -> list:
    """One table row of a run, whether the API gives MLflow's {info, data} or flat fields."""
    info = run.get("info", run)
    data = run.get("data", run)
    metrics = data.get("metrics") or {}
    if isinstance(metrics, list):  # MLflow's REST shape: [{"key": ..., "value": ...}]
        metrics = {m.get("key"): m.get("value") for m in metrics}
    name = info.get("run_name") or info.get("name")
    start = info.get("start_time")
    if isinstance(start, int):  # MLflow's milliseconds since the epoch, shown as UTC time
        start = datetime.fromtimestamp(start / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
    return [info.get("run_id") or info.get("id"), name, info.get("status"), start] + [
        metrics.get(metric) for metric in metric_names
    ]


def metrics_of(run: dict) -> list[str]:
    metrics = run.get("data", run).get("metrics") or {}
    return sorted(m.get("key") for m in metrics) if isinstance(metrics, list) else sorted(metrics)


def experiment_id(client: Api, project: str, wanted: str) -> str:
    """The id of the project's experiment named ``wanted`` (its short or full name), or ``wanted``
    itself when it is the id of one: the API's `experiment` parameter takes ids."""
    params: dict[str, Any] = {"project": project, "max_results": 1000}
    ids = set()
    while True:
        answer = client.get("experiments/", **params)
        for found in answer.get("experiments", []):
            if wanted in (found.get("short_name"), found.get("name")):
                return found["experiment_id"]
            ids.add(found.get("experiment_id"))
        params["page_token"] = answer.get("next_page_token")
        if not params["page_token"]:
            break
    if wanted in ids:
        return wanted
    raise TallerError(f"no experiment named or numbered {wanted!r} in project {project}")


@cli.command()
@click.option("--project", "-p", required=True, help="Slug of the project.")
@click.option("--experiment", "-x", help="Only runs of this experiment (name or id).")
@click.option("--filter", "filter_", help='MLflow search filter, e.g. "metrics.loss < 0.1".')
@click.option("--order-by", multiple=True, help='Order, e.g. "metrics.loss ASC" (repeatable).')
@click.option(
    "--limit", type=click.IntRange(min=1), default=100, show_default=True, help="At most this many."
)
@json_option
def runs(project, experiment, filter_, order_by, limit, as_json) -> None:
    """List a project's MLflow runs, with their metrics."""
    client = api()
    if experiment:
        experiment = experiment_id(client, project, experiment)
    params: dict[str, Any] = {"project": project, "experiment": experiment, "filter": filter_}
    if order_by:
        params["order_by"] = list(order_by)
    found: list = []
    while len(found) < limit:
        answer = client.get("runs/", **params)
        found += answer.get("runs", [])
        params["page_token"] = answer.get("next_page_token")
        if not params["page_token"]:
            break
    found = found[:limit]
    if as_json:
        return output.emit_json(found)
    names = sorted({name for run in found for name in metrics_of(run)})[:6]
    click.echo(
        output.table(["run id", "name", "status", "start", *names], [run_row(r, names) for r in found])
    )


@cli.command(name="config")
def show_config() -> None:
    """Show where the settings come from (never the token)."""
    path = config_path()
    settings = load_settings()
    source = "environment" if os.environ.get("TALLER_URL") else str(path)
    click.echo(output.fields([("url", settings.url), ("url from", source), ("config file", path)]))


# Commands in their own modules register themselves on `cli` when imported (taller_cli/commands.py).
