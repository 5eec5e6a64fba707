"""A job's provenance as an RO-Crate (ro-crate-py), the packaging research repositories accept:
the job is a ``CreateAction`` whose ``instrument`` is the code (the commit, or the snapshot by its
digest) and the image (with its digest), whose ``object`` is the data inputs and the parameters
(``PropertyValue``), whose ``result`` is the run and the model versions, and whose ``agent`` is
the submitter, by name alone. Every entity is contextual (nothing is copied into the crate), so
the crate is its ``ro-crate-metadata.json``, also offered zipped."""

import json
import shlex
import tempfile
from pathlib import Path

from rocrate.model.contextentity import ContextEntity
from rocrate.model.person import Person
from rocrate.rocrate import ROCrate

METADATA = "ro-crate-metadata.json"
STATUS = {
    "succeeded": "http://schema.org/CompletedActionStatus",
    "failed": "http://schema.org/FailedActionStatus",
    "cancelled": "http://schema.org/FailedActionStatus",
}


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def _entity(crate: ROCrate, entity_id: str, kind: str, **properties) -> ContextEntity:
    values = {"@type": kind, **{k: v for k, v in properties.items() if v not in (None, "", [])}}
    return crate.add(ContextEntity(crate, entity_id, properties=values))


def build(data: dict, absolute) -> ROCrate:
    """The crate of ``data`` (``data.as_data``); ``absolute(path)`` makes the portal's links whole."""
    crate = ROCrate()
    job, run, code, image = data["job"], data["run"], data["code"], data["image"]
    title = f"Job {job['id']}: {job['name']}" if job else f"Run {run['run_id']}" if run else "Provenance"
    crate.name = title
    crate.description = f"Provenance of {title} in project {data['project']}: code, image, data and results."
    crate.root_dataset["datePublished"] = _iso(job["submitted_at"]) if job else None

    instrument = []
    if code.get("git"):
        instrument.append(
            _entity(
                crate,
                "#code",
                "SoftwareSourceCode",
                name=code["git"],
                codeRepository=code["git"],
                version=code.get("commit"),
                url=code.get("commit_url"),
                identifier=code.get("commit"),
            )
        )
    if code.get("snapshot"):
        instrument.append(
            _entity(
                crate,
                "#snapshot",
                "SoftwareSourceCode",
                name="code snapshot",
                identifier=f"sha256:{code['snapshot']}",
            )
        )
    if image.get("image"):
        instrument.append(
            _entity(
                crate,
                "#image",
                "SoftwareApplication",
                name=image["image"],
                identifier=image.get("digest"),
                softwareVersion=image.get("pinned"),
            )
        )
    objects = [
        _entity(
            crate,
            f"#data-{n}",
            "Dataset",
            name=item["name"],
            identifier=item["digest"],
            url=item["source"],
            encodingFormat=item["source_type"],
            description=item.get("context"),
        )
        for n, item in enumerate(data["data"], start=1)
    ]
    objects += [
        _entity(crate, f"#param-{key}", "PropertyValue", name=key, value=value)
        for key, value in data["parameters"].items()
    ]
    results = []
    if run:
        results.append(
            _entity(
                crate,
                f"#run-{run['run_id']}",
                "CreativeWork",
                name=run.get("run_name") or run["run_id"],
                identifier=run["run_id"],
                url=absolute(run["url"]),
                additionalType="MLflow run",
            )
        )
    versions = list(data["model_versions"])
    if data["model_version"]:
        versions.append(data["model_version"])
    for version in versions:
        results.append(
            _entity(
                crate,
                f"#model-{version['name']}-{version['version']}",
                "CreativeWork",
                name=f"{version['name']} version {version['version']}",
                identifier=f"{version['name']}/{version['version']}",
                url=absolute(version["url"]),
                additionalType="MLflow registered model version",
            )
        )
    if job:
        crate.root_dataset["mentions"] = [_action(crate, job, instrument, objects, results, absolute)]
    else:
        crate.root_dataset["mentions"] = [*instrument, *objects, *results] or None
    return crate


def _action(crate, job, instrument, objects, results, absolute) -> ContextEntity:
    submitter = crate.add(Person(crate, "#submitter", properties={"name": job["submitted_by"]["name"]}))
    resources = job["resources"]
    extra = [
        _entity(crate, f"#resource-{key}", "PropertyValue", name=key, value=str(value))
        for key, value in (
            ("cpu", resources["cpu"]),
            ("memory_mib", resources["memory_mib"]),
            ("gpus", resources["gpus"]),
            ("gpu_type", resources["gpu_type"]),
            ("time_limit_minutes", job["time_limit_minutes"]),
            ("gpu_hours", job["gpu_hours"]),
        )
        if value not in (None, "")
    ]
    action = _entity(
        crate,
        f"#job-{job['id']}",
        "CreateAction",
        name=f"Job {job['id']}: {job['name']}",
        description=shlex.join(job["command"]),
        url=absolute(job["url"]),
        startTime=_iso(job["started_at"]),
        endTime=_iso(job["finished_at"]),
        actionStatus=STATUS.get(job["status"], "http://schema.org/ActiveActionStatus"),
        agent=submitter,
        instrument=instrument,
        object=objects,
        result=results,
        additionalProperty=extra,
    )
    if job["reproduced_from"]:
        action["isBasedOn"] = absolute(job["reproduced_from"]["url"])
    return action


def metadata_json(crate: ROCrate) -> bytes:
    return json.dumps(crate.metadata.generate(), indent=2, ensure_ascii=False).encode()


def zipped(crate: ROCrate) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "crate.zip"
        crate.write_zip(path)
        return path.read_bytes()
