"""`taller deploy` and `taller deployments ...`: serve a registered model version (or follow an
alias), list, show, change the version, roll back, scale, stop."""

import json

import click

from . import output
from .base import TallerError, api, cli, converter, json_option
from .client import Api
from .parsing import parse_cpu, parse_memory_mib

SHOWN = ["name", "model", "alias", "version", "serving_version", "replicas", "status", "status_reason", "url"]


def find_deployment(client: Api, project: str, name: str) -> dict:
    for row in client.get("deployments/", project=project):
        if row.get("name") == name or str(row.get("id")) == name:
            return row
    raise TallerError(f"project {project} has no deployment “{name}”")


def _emit(row: dict, as_json: bool) -> None:
    if as_json:
        return output.emit_json(row)
    click.echo(output.fields([(key, row.get(key)) for key in SHOWN]))


@cli.command()
@click.option("--project", "-p", required=True, help="Slug of the project.")
@click.option("--version", "-v", "version", default="", help="The registered model's version.")
@click.option("--alias", "-a", default="", help="Or follow this alias (the deployment moves with it).")
@click.option("--replicas", "-r", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--cpu", callback=converter(parse_cpu), help="CPU cores per replica: 2, 0.5 or 500m.")
@click.option("--memory", callback=converter(parse_memory_mib), help="Memory per replica: 512Mi, 2Gi.")
@click.option("--gpus", type=click.IntRange(min=0), help="GPUs per replica.")
@json_option
@click.argument("name")
@click.argument("model")
def deploy(project, version, alias, replicas, cpu, memory, gpus, as_json, name, model) -> None:
    """Serve MODEL (a registered model of the project) as the deployment NAME."""
    body = {
        "project": project,
        "name": name,
        "model": model,
        "version": version,
        "alias": alias,
        "replicas": replicas,
    }
    body.update({k: v for k, v in {"cpu": cpu, "memory_mib": memory, "gpus": gpus}.items() if v is not None})
    created = api().post("deployments/", body)
    if as_json:
        return output.emit_json(created)
    click.echo(f"Deployment {created['name']} of {created['model']} v{created['version']} is starting.")
    click.echo(f"Call it: POST {created['url']}")


@cli.group()
def deployments() -> None:
    """List, show and change a project's deployments."""


@deployments.command(name="list")
@click.option("--project", "-p", required=True, help="Slug of the project.")
@json_option
def list_deployments(project: str, as_json: bool) -> None:
    rows = api().get("deployments/", project=project)
    if as_json:
        return output.emit_json(rows)
    headers = ["name", "model", "version", "serving_version", "replicas", "status"]
    click.echo(output.table(headers, [[row.get(h) for h in headers] for row in rows]))


@deployments.command(name="show")
@click.option("--project", "-p", required=True, help="Slug of the project.")
@click.argument("name")
@json_option
def show_deployment(project: str, name: str, as_json: bool) -> None:
    client = api()
    _emit(client.get(f"deployments/{find_deployment(client, project, name)['id']}/"), as_json)


def _change(project: str, name: str, verb: str, body=None) -> dict:
    client = api()
    return client.post(f"deployments/{find_deployment(client, project, name)['id']}/{verb}/", body)


@deployments.command(name="update")
@click.option("--project", "-p", required=True, help="Slug of the project.")
@click.option("--version", "-v", "version", default="", help="Serve this version.")
@click.option("--alias", "-a", default="", help="Or follow this alias.")
@click.argument("name")
@json_option
def update_deployment(project, version, alias, name, as_json) -> None:
    """Roll NAME out to another version; the one serving answers until the new one does."""
    _emit(_change(project, name, "version", {"version": version, "alias": alias}), as_json)


@deployments.command(name="rollback")
@click.option("--project", "-p", required=True, help="Slug of the project.")
@click.argument("name")
@json_option
def rollback_deployment(project, name, as_json) -> None:
    """Back to the version NAME served before."""
    _emit(_change(project, name, "rollback"), as_json)


@deployments.command(name="scale")
@click.option("--project", "-p", required=True, help="Slug of the project.")
@click.argument("name")
@click.argument("replicas", type=click.IntRange(min=1))
@json_option
def scale_deployment(project, name, replicas, as_json) -> None:
    _emit(_change(project, name, "scale", {"replicas": replicas}), as_json)


@deployments.command(name="stop")
@click.option("--project", "-p", required=True, help="Slug of the project.")
@click.argument("name")
@json_option
def stop_deployment(project, name, as_json) -> None:
    _emit(_change(project, name, "stop"), as_json)


@deployments.command(name="sampling")
@click.option("--project", "-p", required=True, help="Slug of the project.")
@click.option(
    "--fraction", "-f", type=click.FloatRange(0, 1), required=True, help="Share of calls kept; 0 is off."
)
@click.option("--days", "-d", type=click.IntRange(min=1), default=7, show_default=True, help="Days kept.")
@click.argument("name")
@json_option
def sampling_deployment(project, fraction, days, name, as_json) -> None:
    """Keep a share of NAME's calls (request and answer) for some days, to examine drift."""
    row = _change(project, name, "sampling", {"fraction": fraction, "retention_days": days})
    if as_json:
        return output.emit_json(row)
    click.echo(
        output.fields([(key, row.get(key)) for key in ("name", "sample_fraction", "sample_retention_days")])
    )


@deployments.command(name="samples")
@click.option("--project", "-p", required=True, help="Slug of the project.")
@click.option("--since", help="Only calls at or after this time (ISO 8601).")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="At most this many.")
@click.option("--jsonl", is_flag=True, help="One JSON object a line, bodies included.")
@click.argument("name")
def list_samples(project, since, limit, jsonl, name) -> None:
    """The latest sampled calls of NAME (members and owners; a viewer is refused)."""
    client = api()
    path = f"deployments/{find_deployment(client, project, name)['id']}/samples/"
    rows = client.pages(path, limit, **({"since": since} if since else {}))
    if jsonl:
        for row in rows:
            click.echo(json.dumps(row))
        return
    headers = ["at", "status", "latency_ms", "request", "response"]
    shown = [
        [row["at"], row["status"], row["latency_ms"], row["request"][:40], row["response"][:40]]
        for row in rows
    ]
    click.echo(output.table(headers, shown))


@deployments.group(name="keys")
def deployment_keys() -> None:
    """The keys that call one deployment (for a demo page or another group)."""


@deployment_keys.command(name="list")
@click.option("--project", "-p", required=True, help="Slug of the project.")
@click.argument("name")
@json_option
def list_keys(project: str, name: str, as_json: bool) -> None:
    client = api()
    rows = client.get(f"deployments/{find_deployment(client, project, name)['id']}/keys/")
    if as_json:
        return output.emit_json(rows)
    headers = ["id", "name", "prefix", "created_at", "revoked_at"]
    click.echo(output.table(headers, [[row.get(h) for h in headers] for row in rows]))


@deployment_keys.command(name="create")
@click.option("--project", "-p", required=True, help="Slug of the project.")
@click.argument("name")
@click.argument("key_name")
@json_option
def create_key(project: str, name: str, key_name: str, as_json: bool) -> None:
    """Make a key called KEY_NAME for the deployment NAME; it is printed once."""
    created = _change(project, name, "keys", {"name": key_name})
    if as_json:
        return output.emit_json(created)
    click.echo(created["key"])
    click.echo(f"Key {created['id']} “{created['name']}”: copy it now, it is not shown again.", err=True)


@deployment_keys.command(name="revoke")
@click.option("--project", "-p", required=True, help="Slug of the project.")
@click.argument("name")
@click.argument("key_id", type=click.IntRange(min=1))
def revoke_key(project: str, name: str, key_id: int) -> None:
    _change(project, name, f"keys/{key_id}/revoke")
    click.echo(f"Key {key_id} revoked.")
