"""The verbs on deployments: create, update the version, roll back, scale, stop; and follow the
aliases deployments track. Pages, the API and the CLI call these; the caller has found the
project, each verb checks the actor's role itself.

A verb only writes what should serve (``version``, ``replicas``) in one transaction; the serving
side (``local.py``, the embedded default's serve_models process, which reads the deployments every
second; on Kubernetes ``cluster.py``, from a task sent once the verb committed) rolls it out and
moves ``serving_version`` once the new replicas answer, so a rollout that fails leaves the
previous version serving.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from portal.accounts.models import ApiToken
from portal.errors import ServiceUnavailable
from portal.projects.access import Need, check
from portal.projects.actions import record
from portal.projects.models import Project

from . import queue
from .models import LIVE, Deployment, DeploymentStatus
from .quota import check_fits
from .validation import check_name, check_resources, resolve


def _project_may_serve(project: Project) -> None:
    if not project.is_active():
        raise ValidationError(
            {
                "project": _("The project is %(status)s: only an active project serves models.")
                % {"status": project.get_status_display()}
            }
        )


def _sync(deployment: Deployment) -> None:
    """On Kubernetes, the cluster is brought in line once the verb committed (beat's periodic
    look repairs a lost message)."""
    if deployment.backend == "kubernetes":
        transaction.on_commit(lambda: queue.send_sync(deployment.pk))


def create_deployment(
    actor,
    project: Project,
    *,
    name,
    model,
    version="",
    alias="",
    replicas=1,
    cpu="1",
    memory_mib=1024,
    gpus=0,
) -> Deployment:
    check(actor, project, Need.CHANGE)
    _project_may_serve(project)
    name = check_name(name)
    replicas, cpu, memory_mib, gpus = check_resources(
        replicas=replicas, cpu=cpu, memory_mib=memory_mib, gpus=gpus
    )
    if Deployment.objects.filter(project=project, name=name).exists():
        raise ValidationError(
            {"name": _("The project already has a deployment named '%(name)s'.") % {"name": name}}
        )
    target = resolve(project.slug, model, version=version, alias=alias)
    try:
        with transaction.atomic():
            check_fits(project, replicas=replicas, cpu=cpu, memory_mib=memory_mib, gpus=gpus)
            deployment = Deployment.objects.create(
                project=project,
                name=name,
                model_name=target.model_name,
                alias=target.alias,
                version=target.version,
                replicas=replicas,
                cpu=cpu,
                memory_mib=memory_mib,
                gpus=gpus,
                backend=settings.TALLER_EXECUTOR,
                status=DeploymentStatus.STARTING,
                status_reason=gettext_noop("starting"),
                created_by=actor,
            )
            record(actor, project, "deployment.create", f"{name}: {target.model_name} v{target.version}")
            _sync(deployment)
    except IntegrityError:
        raise ValidationError(
            {"name": _("The project already has a deployment named '%(name)s'.") % {"name": name}}
        ) from None
    return deployment


def _live(deployment: Deployment, *, or_failed: bool = False) -> Deployment:
    """The deployment, its row locked, refused if it was stopped (or failed, unless ``or_failed``:
    a new version may mend a failed one, its replicas then admitted again)."""
    deployment = Deployment.objects.select_for_update().get(pk=deployment.pk)
    if or_failed and deployment.status == DeploymentStatus.FAILED:
        check_fits(
            deployment.project,
            replicas=deployment.replicas,
            cpu=deployment.cpu,
            memory_mib=deployment.memory_mib,
            gpus=deployment.gpus,
        )
        deployment.status = DeploymentStatus.UPDATING
    elif deployment.status not in LIVE:
        raise ValidationError(
            {"status": _("The deployment is %(status)s.") % {"status": deployment.get_status_display()}}
        )
    return deployment


def _move_to(deployment: Deployment, version: str, *, alias: str, reason: str) -> None:
    if version != deployment.version:
        deployment.previous_version = deployment.serving_version or deployment.version
        deployment.version = version
        deployment.status = DeploymentStatus.UPDATING
        deployment.status_reason = reason
    deployment.alias = alias
    deployment.updated_at = timezone.now()
    deployment.save()


def update_version(actor, deployment: Deployment, *, version="", alias="") -> Deployment:
    """Serve another version (or follow another alias); the old one serves until the new answers."""
    check(actor, deployment.project, Need.CHANGE)
    target = resolve(deployment.project.slug, deployment.short_model_name, version=version, alias=alias)
    with transaction.atomic():
        deployment = _live(deployment, or_failed=True)
        _move_to(
            deployment, target.version, alias=target.alias, reason=gettext_noop("rolling out a new version")
        )
        record(actor, deployment.project, "deployment.update", f"{deployment.name}: v{target.version}")
        _sync(deployment)
    return deployment


def roll_back(actor, deployment: Deployment) -> Deployment:
    """Back to the version served before the last update. It stops following its alias: the alias
    would move it forward again."""
    check(actor, deployment.project, Need.CHANGE)
    with transaction.atomic():
        deployment = _live(deployment)
        if not deployment.previous_version or deployment.previous_version == deployment.version:
            raise ValidationError({"version": _("There is no earlier version to roll back to.")})
        target = deployment.previous_version
        _move_to(deployment, target, alias="", reason=gettext_noop("rolling back"))
        record(actor, deployment.project, "deployment.rollback", f"{deployment.name}: v{target}")
        _sync(deployment)
    return deployment


def scale(actor, deployment: Deployment, *, replicas) -> Deployment:
    check(actor, deployment.project, Need.CHANGE)
    replicas, *_rest = check_resources(
        replicas=replicas, cpu=deployment.cpu, memory_mib=deployment.memory_mib, gpus=deployment.gpus
    )
    with transaction.atomic():
        deployment = _live(deployment)
        check_fits(
            deployment.project,
            replicas=replicas,
            cpu=deployment.cpu,
            memory_mib=deployment.memory_mib,
            gpus=deployment.gpus,
            replacing=deployment,
        )
        deployment.replicas = replicas
        deployment.updated_at = timezone.now()
        deployment.save(update_fields=["replicas", "updated_at"])
        record(actor, deployment.project, "deployment.scale", f"{deployment.name}: {replicas} replicas")
        _sync(deployment)
    return deployment


def stop(actor, deployment: Deployment) -> Deployment:
    """Stop serving; the quota it held is free at once, its keys and token stop working."""
    check(actor, deployment.project, Need.CHANGE)
    with transaction.atomic():
        deployment = Deployment.objects.select_for_update().get(pk=deployment.pk)
        if deployment.status == DeploymentStatus.STOPPED:
            return deployment
        now = timezone.now()
        deployment.status = DeploymentStatus.STOPPED
        deployment.status_reason = gettext_noop("stopped")
        deployment.stopped_at = deployment.updated_at = now
        deployment.save()
        if deployment.token_id:
            ApiToken.objects.filter(pk=deployment.token_id, revoked_at__isnull=True).update(revoked_at=now)
        record(actor, deployment.project, "deployment.stop", deployment.name)
        _sync(deployment)
    return deployment


def follow_aliases() -> list[int]:
    """Move each live deployment that follows an alias to the version the alias points at now
    (one MLflow call per followed model); returns the ids moved."""
    moved = []
    for deployment in Deployment.objects.live().exclude(alias="").select_related("project"):
        try:
            target = resolve(deployment.project.slug, deployment.short_model_name, alias=deployment.alias)
        except (ValidationError, ServiceUnavailable):  # the alias gone, or MLflow away: keep serving
            continue
        if target.version == deployment.version:
            continue
        with transaction.atomic():
            row = Deployment.objects.select_for_update().get(pk=deployment.pk)
            if row.status in LIVE and row.alias == deployment.alias and row.version != target.version:
                _move_to(row, target.version, alias=row.alias, reason=gettext_noop("following its alias"))
                record(None, row.project, "deployment.follow", f"{row.name}@{row.alias}: v{target.version}")
                _sync(row)
                moved.append(row.pk)
    return moved
