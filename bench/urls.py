"""The portal's URLs plus the baselines: bare Django views answering what an API view answers.

Only the bench mounts these (bench/settings.py); production URLs never include them.
"""

from django.db.models import OuterRef, Subquery
from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from clusterjobs.models import Job
from portal.accounts.actions import authenticate_token
from portal.accounts.authentication import key_from_header
from portal.projects.models import Membership, Project

PROJECT_FIELDS = [
    "slug",
    "name",
    "description",
    "principal_investigator",
    "field_of_research",
    "expected_needs",
    "status",
    "decision_reason",
    "requested_by__username",
    "role",
    "created_at",
    "decided_at",
]


def bare_projects(request: HttpRequest) -> JsonResponse:
    """The first 50 projects the token's user sees, with the same fields, as plain JSON."""
    token = authenticate_token(key_from_header(request.headers.get("Authorization", "")) or "")
    if token is None:
        return JsonResponse({"detail": "Authentication failed."}, status=401)
    role = Membership.objects.filter(project=OuterRef("pk"), user_id=token.user_id).values("role")[:1]
    projects = Project.objects.visible_to(token.user).annotate(role=Subquery(role)).order_by("name", "pk")
    rows = list(projects.values(*PROJECT_FIELDS)[:50])
    for row in rows:
        row["requested_by"] = row.pop("requested_by__username")
    return JsonResponse({"count": projects.count(), "results": rows})


JOB_FIELDS = [
    "id",
    "project__slug",
    "submitter__username",
    "name",
    "image",
    "command",
    "env",
    "secret_env_names",
    "cpu",
    "memory_mib",
    "gpus",
    "gpu_type",
    "time_limit_minutes",
    "experiment_name",
    "status",
    "status_reason",
    "exit_code",
    "backend",
    "image_digest",
    "mlflow_experiment_id",
    "mlflow_run_id",
    "rerun_of",
    "created_at",
    "dispatched_at",
    "started_at",
    "finished_at",
]


def bare_jobs(request: HttpRequest) -> JsonResponse:
    """The newest 50 jobs the token's user sees, shaped as GET /api/v1/jobs/ shapes them."""
    token = authenticate_token(key_from_header(request.headers.get("Authorization", "")) or "")
    if token is None:
        return JsonResponse({"detail": "Authentication failed."}, status=401)
    jobs = Job.objects.visible_to(token.user).order_by("-created_at", "-pk")
    rows = []
    for row in jobs.values(*JOB_FIELDS)[:50]:
        secret = set(row["secret_env_names"])
        rows.append(
            {
                "id": row["id"],
                "project": row["project__slug"],
                "submitter": row["submitter__username"],
                "name": row["name"],
                "image": row["image"],
                "command": row["command"],
                "env": {k: "••••••" if k in secret else v for k, v in row["env"].items()},
                "secret_env": row["secret_env_names"],
                "resources": {
                    "cpu": f"{row['cpu']:.3f}",
                    "memory_mib": row["memory_mib"],
                    "gpus": row["gpus"],
                    "gpu_type": row["gpu_type"],
                },
                "time_limit_minutes": row["time_limit_minutes"],
                "experiment": row["experiment_name"],
                "status": row["status"],
                "status_reason": row["status_reason"],
                "exit_code": row["exit_code"],
                "backend": row["backend"],
                "backend_name": f"taller-{row['id']}",
                "image_digest": row["image_digest"],
                "mlflow_experiment_id": row["mlflow_experiment_id"],
                "mlflow_run_id": row["mlflow_run_id"],
                "rerun_of": row["rerun_of"],
                "created_at": row["created_at"],
                "dispatched_at": row["dispatched_at"],
                "started_at": row["started_at"],
                "finished_at": row["finished_at"],
            }
        )
    return JsonResponse({"results": rows})


urlpatterns = [
    path("bench/projects/", bare_projects),
    path("bench/jobs/", bare_jobs),
    path("", include("portal.urls")),
]
