from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DeploymentsConfig(AppConfig):
    name = "deployments"
    verbose_name = _("Deployments")

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        # A deployment's replicas hold their project's quota like running jobs: admission, the quota
        # bars and the usage pages ask what is held through portal.quotas, which asks us here.
        from portal.quotas.admission import add_holder
        from portal.quotas.periods import add_usage_source

        # The tasks registered in every process, and the one the verbs send handed to queue.py.
        from . import tasks  # noqa: F401
        from .known_keys import forget
        from .models import Deployment, DeploymentKey
        from .quota import held_by_deployments
        from .usage import uses_of

        add_holder(held_by_deployments)
        # And what they held over time counts in the period's usage figures and budgets.
        add_usage_source(uses_of)
        # A serving process keeps what it learnt of a key until a key changes or a deployment goes
        # (a deployment's own saves and UPDATEs tell it in models.py).
        post_save.connect(forget, sender=DeploymentKey, dispatch_uid="forget-keys-key-saved")
        for model in (Deployment, DeploymentKey):
            post_delete.connect(forget, sender=model, dispatch_uid=f"forget-keys-{model.__name__}-deleted")
