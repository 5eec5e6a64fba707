from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DeploymentsConfig(AppConfig):
    name = "deployments"
    verbose_name = _("Deployments")

    def ready(self) -> None:
        # A deployment's replicas hold their project's quota like running jobs: admission, the quota
        # bars and the usage pages ask what is held through portal.quotas, which asks us here.
        from portal.quotas.admission import add_holder
        from portal.quotas.periods import add_usage_source

        # The tasks registered in every process, and the one the verbs send handed to queue.py.
        from . import tasks  # noqa: F401
        from .quota import held_by_deployments
        from .usage import uses_of

        add_holder(held_by_deployments)
        # And what they held over time counts in the period's usage figures and budgets.
        add_usage_source(uses_of)
