from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DeploymentsConfig(AppConfig):
    name = "deployments"
    verbose_name = _("Deployments")

    def ready(self) -> None:
        # A deployment's replicas hold their project's quota like running jobs: admission, the quota
        # bars and the usage pages ask what is held through portal.quotas, which asks us here.
        from portal.quotas.admission import add_holder

        from .quota import held_by_deployments

        add_holder(held_by_deployments)
