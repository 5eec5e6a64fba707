"""Deploying a registered version or an alias, within the project's quota; what is refused."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from deployments import actions
from deployments.models import Deployment, DeploymentStatus
from experiments import gateway
from portal.quotas.admission import in_use
from portal.quotas.models import ensure_quota

pytestmark = pytest.mark.django_db


def deploy(personas, registered, **fields):
    asked = {"name": "digits", "model": registered.name, "version": "1", **fields}
    return actions.create_deployment(personas.bob, personas.project, **asked)


def test_a_member_deploys_a_version_and_its_replicas_count_in_the_quota(personas, registered):
    before = in_use(personas.project.pk)
    deployment = deploy(personas, registered, replicas=2, cpu="1.5", memory_mib=512)
    assert (deployment.model_name, deployment.version, deployment.status) == (
        registered.full_name,
        "1",
        DeploymentStatus.STARTING,
    )
    held = in_use(personas.project.pk)
    assert held.cpu - before.cpu == Decimal("3.00")
    assert held.memory_mib - before.memory_mib == 1024
    actions.stop(personas.bob, deployment)
    assert in_use(personas.project.pk) == before


def test_an_alias_is_resolved_and_followed_when_it_moves(personas, registered):
    deployment = deploy(personas, registered, version="", alias="champion")
    assert (deployment.version, deployment.alias) == ("1", "champion")
    assert actions.follow_aliases() == []
    gateway.set_alias(registered.full_name, "champion", "2")
    assert actions.follow_aliases() == [deployment.pk]
    deployment.refresh_from_db()
    assert (deployment.version, deployment.previous_version, deployment.status) == (
        "2",
        "1",
        DeploymentStatus.UPDATING,
    )


def test_over_the_quota_is_refused_with_the_reason_and_nothing_is_created(personas, registered):
    quota = ensure_quota(personas.project)
    quota.max_cpu = Decimal(4)
    quota.save()
    with pytest.raises(ValidationError) as refused:
        deploy(personas, registered, replicas=3, cpu="2")
    assert "3 replicas need 6 CPU cores, but the project may hold 4" in refused.value.message_dict["cpu"][0]
    assert not Deployment.objects.exists()


def test_scaling_past_the_quota_is_refused_and_keeps_the_replicas(personas, registered):
    quota = ensure_quota(personas.project)
    quota.max_cpu = Decimal(4)
    quota.save()
    deployment = deploy(personas, registered, replicas=2, cpu="2")
    with pytest.raises(ValidationError) as refused:
        actions.scale(personas.bob, deployment, replicas=3)
    assert "cpu" in refused.value.message_dict
    deployment.refresh_from_db()
    assert deployment.replicas == 2
    assert actions.scale(personas.bob, deployment, replicas=1).replicas == 1


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"name": "Bad Name"}, "name", "Lowercase"),
        ({"model": "nothing"}, "model", "No registered model"),
        ({"version": "9"}, "version", "no version 9"),
        ({"version": "", "alias": "nope"}, "alias", "no alias"),
        ({"version": "1", "alias": "champion"}, "version", "either a version or an alias"),
        ({"replicas": 0}, "replicas", "Between 1"),
        ({"cpu": "abc"}, "cpu", "number of cores"),
    ],
)
def test_bad_input_is_refused_per_field(personas, registered, fields, field, says):
    with pytest.raises(ValidationError) as refused:
        deploy(personas, registered, **fields)
    assert says in " ".join(refused.value.message_dict[field])
    assert not Deployment.objects.exists()


def test_a_name_collides_within_the_project(personas, registered):
    deploy(personas, registered)
    with pytest.raises(ValidationError) as refused:
        deploy(personas, registered)
    assert "already has a deployment" in refused.value.message_dict["name"][0]


def test_a_version_without_a_logged_model_is_refused(personas, registered):
    gateway.log_text_artifact(registered.run_id, "not a model", "notes/readme.txt")
    gateway.register_version(
        personas.project.slug, registered.full_name, f"runs:/{registered.run_id}/notes", registered.run_id
    )
    with pytest.raises(ValidationError) as refused:
        deploy(personas, registered, version="3")
    assert "has no logged model" in refused.value.message_dict["version"][0]


def test_a_viewer_may_not_deploy(personas, registered):
    with pytest.raises(PermissionDenied):
        actions.create_deployment(
            personas.vera, personas.project, name="x", model=registered.name, version="1"
        )


def test_roll_back_returns_to_the_previous_version_and_stops_following(personas, registered):
    deployment = deploy(personas, registered, version="", alias="champion")
    actions.update_version(personas.bob, deployment, version="2")
    deployment = actions.roll_back(personas.bob, deployment)
    assert (deployment.version, deployment.alias) == ("1", "")
    stopped = actions.stop(personas.bob, deployment)
    with pytest.raises(ValidationError):
        actions.roll_back(personas.bob, stopped)
