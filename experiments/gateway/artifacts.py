"""A run's artifacts: listed through MLflow's client, downloaded as a stream, never held whole."""

from collections.abc import Iterator
from urllib.parse import quote, urlparse

import requests
from django.utils.translation import gettext as _

from .core import GatewayError, calling, mlflow_client, send


def clean_artifact_path(path: str | None) -> str:
    """A relative path inside a run's artifacts; refuses absolute paths and any `..`."""
    path = (path or "").strip()
    if not path:
        return ""
    if path.startswith(("/", "\\")) or "\\" in path or "\x00" in path or ":" in path.split("/")[0]:
        raise GatewayError(_("Artifact paths are relative to the run's artifacts."), status=400)
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise GatewayError(_("Artifact paths may not leave the run's artifacts ('..')."), status=400)
    return "/".join(parts)


def list_artifacts(run_id: str, path: str = "") -> list[dict]:
    """The files and folders directly under ``path`` in a run's artifacts."""
    path = clean_artifact_path(path)
    with calling():
        files = mlflow_client().list_artifacts(run_id, path or None)
    return [
        {"path": f.path, "name": f.path.rsplit("/", 1)[-1], "is_dir": f.is_dir, "size": f.file_size}
        for f in sorted(files, key=lambda f: (not f.is_dir, f.path))
    ]


class Artifact:
    """An open, streamed artifact download: iterate ``chunks()``, then ``close()``."""

    def __init__(self, response: requests.Response, name: str) -> None:
        self._response = response
        self.name = name
        length = response.headers.get("Content-Length")
        self.size = int(length) if length and length.isdigit() else None

    def chunks(self, size: int = 64 * 1024) -> Iterator[bytes]:
        try:
            yield from self._response.iter_content(size)
        finally:
            self._response.close()

    def read(self, limit: int) -> bytes | None:
        """At most ``limit`` bytes, or None if the artifact is larger (then the download is closed)."""
        data = bytearray()
        try:
            for chunk in self._response.iter_content(64 * 1024):
                data.extend(chunk)
                if len(data) > limit:
                    return None
        finally:
            self._response.close()
        return bytes(data)

    def close(self) -> None:
        self._response.close()


def open_artifact(run: dict, path: str) -> Artifact:
    """Stream one artifact file of a run from the tracking server, never through a local copy."""
    path = clean_artifact_path(path)
    if not path:
        raise GatewayError(_("Which artifact? The path is empty."), status=400)
    artifact_uri = run["artifact_uri"]
    if artifact_uri.startswith("mlflow-artifacts:"):
        root = urlparse(artifact_uri).path.strip("/")
        url = f"api/2.0/mlflow-artifacts/artifacts/{quote(root)}/{quote(path)}"
        params = None
    else:
        url = "get-artifact"
        params = {"path": path, "run_uuid": run["run_id"]}
    response = send("GET", url, params=params, stream=True)
    if response.status_code >= 400:
        response.close()
        if response.status_code in {400, 404}:
            raise GatewayError(_("No artifact '%(path)s' in this run.") % {"path": path}, status=404)
        raise GatewayError(
            _("MLflow answered %(status)s for the artifact.") % {"status": response.status_code}, status=502
        )
    return Artifact(response, path.rsplit("/", 1)[-1])
