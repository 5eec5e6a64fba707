"""A ``Trail`` as plain data: the JSON of the API, what the page and the RO-Crate are drawn from.
Times are datetimes here (the page shows them with ``|when``); the API's renderer writes ISO 8601.
Of the submitter only the user name and the name they gave are shown."""

from datetime import UTC, datetime

from django.urls import reverse

from experiments import gateway

from .trail import REPRODUCED_BY, REPRODUCED_FROM, Trail


def from_ms(value: int | None) -> datetime | None:
    return None if value in (None, 0) else datetime.fromtimestamp(value / 1000, tz=UTC)


def person(user) -> dict:
    return {"username": user.username, "name": user.get_full_name() or user.username}


def job_link(job) -> dict:
    return {"id": job.pk, "name": job.name, "url": reverse("clusterjobs:detail", args=[job.pk])}


def short_model_name(name: str) -> str:
    return name.split(gateway.MODEL_SEPARATOR, 1)[-1]


def version_link(project_slug: str, version: dict) -> dict:
    short = short_model_name(version["name"])
    return {
        "name": version["name"],
        "version": version["version"],
        "url": reverse("experiments:version", args=[project_slug, short, version["version"]]),
        "provenance_url": reverse(
            "clusterjobs:provenance-version", args=[project_slug, short, version["version"]]
        ),
    }


def _job(trail: Trail) -> dict | None:
    job = trail.job
    if job is None:
        return None
    return {
        **job_link(job),
        "provenance_url": reverse("clusterjobs:provenance-job", args=[job.pk]),
        "status": job.status,
        "submitted_by": person(job.submitter),
        "submitted_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "backend": job.backend,
        "exit_code": job.exit_code,
        "command": list(job.command),
        "resources": {
            "cpu": str(job.cpu.normalize()),
            "memory_mib": job.memory_mib,
            "gpus": job.gpus,
            "gpu_type": job.gpu_type,
        },
        "time_limit_minutes": job.time_limit_minutes,
        "gpu_hours": trail.gpu_hours(),
        "experiment": job.experiment_name,
        "reproduced_from": job_link(job.reproduced_from) if job.reproduced_from_id else None,
        "reproductions": [
            {**job_link(new), "submitted_at": new.created_at, "submitted_by": person(new.submitter)}
            for new in trail.reproductions
        ],
    }


def _run(trail: Trail) -> dict | None:
    run = trail.run
    if run is None:
        return {"run_id": trail.run_id, "url": _run_url(trail)} if trail.run_id else None
    tags = run["tags"]
    return {
        "run_id": run["run_id"],
        "run_name": run["run_name"],
        "experiment_id": run["experiment_id"],
        "status": run["status"],
        "started_at": from_ms(run["start_time"]),
        "ended_at": from_ms(run["end_time"]),
        "url": _run_url(trail),
        "reproduced_from_run": tags.get(REPRODUCED_FROM, ""),
        "reproduced_by_run": tags.get(REPRODUCED_BY, ""),
    }


def _run_url(trail: Trail) -> str:
    return reverse("experiments:run", args=[trail.project.slug, trail.run_id])


def _version(trail: Trail) -> dict | None:
    version = trail.version
    if version is None:
        return None
    return {
        **version_link(trail.project.slug, version),
        "run_id": version["run_id"],
        "source": version["source"],
        "status": version["status"],
        "created_at": from_ms(version["creation_timestamp"]),
    }


def as_data(trail: Trail) -> dict:
    """Everything the trail shows, as plain data."""
    return {
        "project": trail.project.slug,
        "model_version": _version(trail),
        "run": _run(trail),
        "job": _job(trail),
        "code": trail.code(),
        "image": trail.image(),
        "data": trail.datasets(),
        "parameters": trail.params(),
        "model_versions": [version_link(trail.project.slug, v) for v in trail.versions],
        "mlflow_error": trail.mlflow_error,
    }
