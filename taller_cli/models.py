"""MLflow through the portal: registered models (versions, aliases, tags), a run's metric
histories and artifacts (list, download), and the comparison of runs."""

import sys
from pathlib import Path

import click

from . import output
from .base import TallerError, api, cli, json_option

PROJECT = click.option("--project", "-p", required=True, help="Slug of the project.")


def _model_path(project: str, name: str) -> str:
    return f"projects/{project}/models/{name}/"


@cli.command()
@PROJECT
@click.argument("name")
@json_option
def model(project: str, name: str, as_json: bool) -> None:
    """Show a registered model (its name inside the project) and its versions."""
    client = api()
    found = client.get(_model_path(project, name))
    versions = client.get(_model_path(project, name) + "versions/", max_results=1000)["versions"]
    if as_json:
        return output.emit_json({**found, "versions": versions})
    aliases = ", ".join(f"{alias} -> v{version}" for alias, version in found["aliases"].items()) or "-"
    click.echo(output.fields([("name", found["name"]), ("aliases", aliases), ("tags", found["tags"] or "-")]))
    click.echo()
    click.echo(
        output.table(
            ["version", "status", "aliases", "tags", "run", "job"],
            [
                [
                    v["version"],
                    v["status"],
                    ",".join(v["aliases"]),
                    v["tags"] or "",
                    v["run_id"],
                    v.get("job"),
                ]
                for v in versions
            ],
        )
    )


@cli.command()
@PROJECT
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS")
@click.argument("version", required=False)
@click.option("--delete", is_flag=True, help="Remove the alias instead.")
def alias(project: str, name: str, alias_name: str, version: str | None, delete: bool) -> None:
    """Point a model's ALIAS at VERSION, or remove it with --delete (members)."""
    path = _model_path(project, name) + f"aliases/{alias_name}/"
    if delete:
        api().request("DELETE", path)
        return click.echo(f"Alias {alias_name} removed from {name}.")
    if version is None:
        raise click.UsageError("give the VERSION the alias points at, or --delete")
    api().request("PUT", path, json={"version": version})
    click.echo(f"{name}@{alias_name} -> version {version}.")


@cli.command()
@PROJECT
@click.argument("name")
@click.argument("version")
@click.argument("key")
@click.argument("value", required=False)
@click.option("--delete", is_flag=True, help="Remove the tag instead.")
def tag(project: str, name: str, version: str, key: str, value: str | None, delete: bool) -> None:
    """Set the tag KEY=VALUE on a model version, or remove it with --delete (members)."""
    path = _model_path(project, name) + f"versions/{version}/tags/{key}/"
    if delete:
        api().request("DELETE", path)
        return click.echo(f"Tag {key} removed from {name} version {version}.")
    api().request("PUT", path, json={"value": value or ""})
    click.echo(f"Tag {key}={value or ''} set on {name} version {version}.")


@cli.command()
@click.argument("run_id", metavar="RUN_ID")
@click.argument("key", required=False)
@json_option
def metrics(run_id: str, key: str | None, as_json: bool) -> None:
    """A run's latest metrics, or one metric's whole history (KEY)."""
    run = api().get(f"runs/{run_id}/")
    if key is not None and key not in run["metric_history"]:
        raise TallerError(f"the run has no metric {key!r} (it has: {', '.join(run['metrics']) or 'none'})")
    data = run["metric_history"][key] if key else run["metrics"]
    if as_json:
        return output.emit_json(data)
    if key:
        return click.echo(
            output.table(
                ["step", "value", "timestamp"], [[p["step"], p["value"], p["timestamp"]] for p in data]
            )
        )
    click.echo(output.table(["metric", "value"], sorted(data.items())))


@cli.command()
@click.argument("run_id", metavar="RUN_ID")
@click.option("--path", default="", help="A folder inside the run's artifacts.")
@json_option
def artifacts(run_id: str, path: str, as_json: bool) -> None:
    """List a run's artifacts (one folder at a time)."""
    answer = api().request("GET", f"runs/{run_id}/artifacts/", params={"path": path or None})
    if as_json:
        return output.emit_json(answer["files"])
    rows = [[f["path"] + ("/" if f["is_dir"] else ""), f["size"]] for f in answer["files"]]
    click.echo(output.table(["path", "size"], rows))


@cli.command()
@click.argument("run_id", metavar="RUN_ID")
@click.argument("path")
@click.option(
    "--output", "-o", "target", help="File to write (default: the artifact's name here; - for stdout)."
)
def download(run_id: str, path: str, target: str | None) -> None:
    """Download one of a run's artifacts."""
    chunks = api().download(f"runs/{run_id}/artifacts/download/", binary=True, path=path)
    if target == "-":
        for chunk in chunks:
            sys.stdout.buffer.write(chunk)
        return None
    destination = Path(target or path.rsplit("/", 1)[-1])
    first = next(chunks, b"")  # fails here, before a file is created, if the portal refuses
    with destination.open("wb") as file:
        file.write(first)
        for chunk in chunks:
            file.write(chunk)
    click.echo(f"Saved {path} to {destination}.")


@cli.command()
@PROJECT
@click.argument("run_ids", nargs=-1, required=True, metavar="RUN_ID...")
@json_option
def compare(project: str, run_ids: tuple[str, ...], as_json: bool) -> None:
    """Compare 2 to 10 runs: params and latest metrics side by side (* where they differ)."""
    answer = api().get("runs/compare/", project=project, runs=",".join(run_ids))
    if as_json:
        return output.emit_json(answer)
    headers = ["", *[run["run_id"][:8] for run in answer["runs"]]]
    rows = [
        [f"{'*' if row['differs'] else ' '} {part}.{row['key']}", *row["values"]]
        for part in ("params", "metrics")
        for row in answer[part]
    ]
    click.echo(output.table(headers, rows))
