"""`taller provenance job|run|model ...`: where a job, run or model version came from (code, image,
data, parameters, the job) and what came from it, optionally saved as an RO-Crate; and
`taller reproduce job|run|model ...`: submit it again with the same code, data and pinned image."""

from pathlib import Path

import click

from . import output
from .base import TallerError, api, cli, json_option

RO_CRATE = click.option(
    "--ro-crate",
    "crate_file",
    type=click.Path(dir_okay=False, writable=True),
    help="Also save it as an RO-Crate: a .zip, or ro-crate-metadata.json for a name ending in .json.",
)


def _show(query: dict, as_json: bool, crate_file: str | None) -> None:
    client = api()
    data = client.get("provenance/", **query)
    if crate_file:
        kind = "json" if crate_file.endswith(".json") else "zip"
        try:
            with open(crate_file, "wb") as file:
                for piece in client.download("provenance/ro-crate/", binary=True, **query, **{"as": kind}):
                    file.write(piece)
        except OSError as error:
            raise TallerError(f"cannot write {crate_file}: {error.strerror}") from None
    if as_json:
        output.emit_json(data)
    else:
        click.echo(describe(data))
    if crate_file:
        click.echo(f"RO-Crate saved to {Path(crate_file)}", err=as_json)


def describe(data: dict) -> str:
    """The provenance as the terminal shows it: the chain, then what it ran with and what came of it."""
    job, run, version, code, image = (
        data["job"],
        data["run"],
        data["model_version"],
        data["code"],
        data["image"],
    )
    pairs = []
    if version:
        pairs.append(("model version", f"{version['name']} v{version['version']}"))
    pairs.append(("run", run["run_id"] if run else "—"))
    if job:
        pairs += [
            ("job", f"{job['id']} {job['name']} ({job['status']})"),
            ("submitted by", f"{job['submitted_by']['name']} at {job['submitted_at']}"),
        ]
    if code.get("git"):
        pairs += [("repository", code["git"]), ("commit", code.get("commit_url") or code.get("commit"))]
    if code.get("snapshot"):
        pairs.append(("snapshot", f"sha256:{code['snapshot']}"))
    pairs += [("image", image["image"] or "—"), ("image digest", image["digest"] or "—")]
    if job:
        resources = job["resources"]
        pairs += [
            ("command", " ".join(job["command"])),
            ("resources", f"{resources['cpu']} CPU, {resources['memory_mib']} MiB, {resources['gpus']} GPU"),
            ("GPU-hours", job["gpu_hours"]),
        ]
        if job["reproduced_from"]:
            pairs.append(("reproduces job", job["reproduced_from"]["id"]))
        if job["reproductions"]:
            pairs.append(("reproduced by jobs", ", ".join(str(r["id"]) for r in job["reproductions"])))
    for item in data["data"]:
        pairs.append((f"data {item['name']}", f"{item['digest']} {item['source']}".strip()))
    pairs += [(f"param {key}", value) for key, value in data["parameters"].items()]
    pairs += [("model", f"{v['name']} v{v['version']}") for v in data["model_versions"]]
    if data["mlflow_error"]:
        pairs.append(("note", data["mlflow_error"]))
    return output.fields(pairs)


@cli.group()
def provenance() -> None:
    """Where a job, run or model version came from, and what came from it."""


@provenance.command(name="job")
@RO_CRATE
@json_option
@click.argument("job_id", type=click.IntRange(min=1))
def provenance_job(crate_file, as_json, job_id) -> None:
    """The provenance of job JOB_ID."""
    _show({"job": job_id}, as_json, crate_file)


@provenance.command(name="run")
@RO_CRATE
@json_option
@click.argument("run_id")
def provenance_run(crate_file, as_json, run_id) -> None:
    """The provenance of the MLflow run RUN_ID."""
    _show({"run": run_id}, as_json, crate_file)


@provenance.command(name="model")
@click.option("--project", "-p", required=True, help="Slug of the project.")
@RO_CRATE
@json_option
@click.argument("name")
@click.argument("version")
def provenance_model(project, crate_file, as_json, name, version) -> None:
    """The provenance of version VERSION of the project's registered model NAME."""
    _show({"project": project, "model": name, "version": version}, as_json, crate_file)


def _reproduce(source: dict, as_json: bool) -> None:
    new = api().post("reproductions/", {"from": source})
    if as_json:
        return output.emit_json(new)
    click.echo(f"Reproduction submitted as job {new['id']} ({new['status']}).")


@cli.group()
def reproduce() -> None:
    """Submit a job again with the same code, data versions, pinned image, command and resources."""


@reproduce.command(name="job")
@json_option
@click.argument("job_id", type=click.IntRange(min=1))
def reproduce_job(as_json, job_id) -> None:
    """Reproduce job JOB_ID."""
    _reproduce({"job": job_id}, as_json)


@reproduce.command(name="run")
@json_option
@click.argument("run_id")
def reproduce_run(as_json, run_id) -> None:
    """Reproduce the job that made the MLflow run RUN_ID."""
    _reproduce({"run": run_id}, as_json)


@reproduce.command(name="model")
@click.option("--project", "-p", required=True, help="Slug of the project.")
@json_option
@click.argument("name")
@click.argument("version")
def reproduce_model(project, as_json, name, version) -> None:
    """Reproduce the job behind version VERSION of the registered model NAME."""
    _reproduce({"project": project, "model": name, "version": version}, as_json)
