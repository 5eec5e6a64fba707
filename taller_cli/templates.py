"""`taller templates ...`: a project's job templates (list, show, create, delete), and what
`taller submit --template NAME` takes from one."""

from typing import Any

import click

from . import output
from .base import api, cli, converter, json_option
from .parsing import parse_cpu, parse_env, parse_memory_mib, parse_minutes
from .template_use import MAX_TEMPLATES, find_template


@cli.group()
def templates() -> None:
    """List, show, create and delete a project's job templates."""


@templates.command(name="list")
@click.option("--project", "-p", required=True, help="Slug of the project.")
@json_option
def list_templates(project: str, as_json: bool) -> None:
    """The project's templates and the site's, by title."""
    rows = api().pages(f"projects/{project}/templates/", limit=MAX_TEMPLATES)
    if as_json:
        return output.emit_json(rows)
    click.echo(
        output.table(
            ["id", "title", "project", "command"],
            [
                [t.get("id"), t.get("title"), t.get("project") or "(every project)", t.get("command")]
                for t in rows
            ],
        )
    )


@templates.command(name="show")
@click.option("--project", "-p", required=True, help="Slug of the project.")
@click.argument("name")
@json_option
def show_template(project: str, name: str, as_json: bool) -> None:
    """Show the template NAME (its title, or its id)."""
    template = find_template(api(), project, name)
    if as_json:
        return output.emit_json(template)
    click.echo(output.fields(output.flatten(template)))


@templates.command(name="create", context_settings={"allow_interspersed_args": False})
@click.option("--project", "-p", required=True, help="Slug of the project.")
@click.option("--description", "-d", default="", help="A longer note.")
@click.option("--image", "-i", help="Container image (default: the site's).")
@click.option("--gpus", type=click.IntRange(min=0), help="Number of GPUs.")
@click.option("--gpu-type", help="GPU model, one of the cluster's.")
@click.option("--cpu", callback=converter(parse_cpu), help="CPU cores: 2, 0.5 or 500m.")
@click.option("--memory", callback=converter(parse_memory_mib), help="Memory: 512Mi, 8Gi (a number: MiB).")
@click.option("--time", "time_limit", callback=converter(parse_minutes), help="Time limit: 90m, 2h.")
@click.option("--env", "-e", "env", multiple=True, help="NAME=VALUE (repeatable).")
@json_option
@click.argument("title")
@click.argument("command", nargs=-1, required=True)
def create_template(
    project, description, image, gpus, gpu_type, cpu, memory, time_limit, env, as_json, title, command
):
    """Save TITLE, running COMMAND (after `--`), as a template of the project."""
    try:
        environment = parse_env(env)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="'--env'") from None
    resources = {"cpu": cpu, "memory_mib": memory, "gpus": gpus, "gpu_type": gpu_type}
    body: dict[str, Any] = {
        "title": title,
        "description": description,
        "command": list(command),
        "env": environment,
        "resources": {key: value for key, value in resources.items() if value is not None},
    }
    if image:
        body["image"] = image
    if time_limit is not None:
        body["time_limit_minutes"] = time_limit
    created = api().post(f"projects/{project}/templates/", body)
    if as_json:
        return output.emit_json(created)
    click.echo(f"Template {created.get('id')} “{created.get('title')}” saved in {project}.")


@templates.command(name="delete")
@click.option("--project", "-p", required=True, help="Slug of the project.")
@click.argument("name")
def delete_template(project: str, name: str) -> None:
    """Delete the project's template NAME (its title, or its id)."""
    client = api()
    template = find_template(client, project, name)
    client.request("DELETE", f"projects/{project}/templates/{template['id']}/")
    click.echo(f"Template {template['id']} “{template['title']}” deleted.")
