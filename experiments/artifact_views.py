"""Pages of a run's artifacts: the tree, a preview (text inline, images as <img>) and the download,
streamed from MLflow through the portal, never held whole."""

import mimetypes
from pathlib import PurePosixPath
from urllib.parse import quote

from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render

from portal.projects.access import get_project_for_user

from . import gateway
from .views import mlflow_page

TEXT_TYPES = {"application/json", "application/x-yaml", "application/yaml", "application/xml"}
TEXT_NAMES = {"MLmodel", "requirements.txt", "conda.yaml", "python_env.yaml", "Dockerfile", "LICENSE"}
# Shown as text whatever the platform's MIME table says (it knows no .log, and .yaml or .md vary):
# the job's log the portal attaches (taller/job.log) and what training code usually writes.
TEXT_SUFFIXES = {
    ".log",
    ".txt",
    ".json",
    ".yaml",
    ".yml",
    ".csv",
    ".tsv",
    ".md",
    ".py",
    ".toml",
    ".ini",
    ".cfg",
}
INLINE_IMAGES = {"image/png", "image/jpeg", "image/gif", "image/webp"}


@mlflow_page
def artifact_tree(request: HttpRequest, slug: str, run_id: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    gateway.check_run(project.slug, run_id)
    path = gateway.clean_artifact_path(request.GET.get("path", ""))
    files = gateway.list_artifacts(run_id, path)
    context = {"project": project, "run_id": run_id, "files": files, "path": path}
    return render(request, "experiments/run.html#artifacts", context)


def _artifact_type(name: str) -> str:
    if name in TEXT_NAMES or PurePosixPath(name).suffix.lower() in TEXT_SUFFIXES:
        return "text/plain"
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


@mlflow_page
def artifact_preview(request: HttpRequest, slug: str, run_id: str) -> HttpResponse:
    """Text up to TALLER_PREVIEW_MAX_BYTES shown inline, images as <img>; larger files: download."""
    project = get_project_for_user(request.user, slug)
    run = gateway.get_run(project.slug, run_id)
    path = gateway.clean_artifact_path(request.GET.get("path", ""))
    kind = _artifact_type(path.rsplit("/", 1)[-1])
    context = {
        "project": project,
        "run_id": run_id,
        "path": path,
        "kind": kind,
        "text": None,
        "too_large": False,
    }
    artifact = gateway.open_artifact(run, path)
    if kind in INLINE_IMAGES:
        artifact.close()
        limit = settings.TALLER_IMAGE_PREVIEW_MAX_BYTES
        context["image"] = True
        context["too_large"] = artifact.size is not None and artifact.size > limit
    elif kind.startswith("text/") or kind in TEXT_TYPES:
        limit = settings.TALLER_PREVIEW_MAX_BYTES
        if artifact.size is not None and artifact.size > limit:
            artifact.close()
            context["too_large"] = True
        else:
            data = artifact.read(limit)
            if data is None:
                context["too_large"] = True
            else:
                context["text"] = data.decode("utf-8", errors="replace")
    else:
        artifact.close()
        context["binary"] = True
    context["limit"] = limit if context["too_large"] else 0
    return render(request, "experiments/run.html#preview", context)


@mlflow_page
def artifact_download(request: HttpRequest, slug: str, run_id: str) -> StreamingHttpResponse:
    """The artifact streamed from MLflow through the portal; images may be shown inline."""
    project = get_project_for_user(request.user, slug)
    run = gateway.get_run(project.slug, run_id)
    path = gateway.clean_artifact_path(request.GET.get("path", ""))
    artifact = gateway.open_artifact(run, path)
    kind = _artifact_type(artifact.name)
    inline = request.GET.get("inline") == "1" and kind in INLINE_IMAGES
    response = StreamingHttpResponse(
        artifact.chunks(), content_type=kind if inline else "application/octet-stream"
    )
    if artifact.size is not None:
        response["Content-Length"] = str(artifact.size)
    disposition = "inline" if inline else "attachment"
    response["Content-Disposition"] = f"{disposition}; filename*=UTF-8''{_quote_filename(artifact.name)}"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _quote_filename(name: str) -> str:
    return quote(name, safe="")
