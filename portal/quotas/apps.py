from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class QuotasConfig(AppConfig):
    name = "portal.quotas"
    label = "quotas"
    verbose_name = _("Quotas and usage")

    def ready(self) -> None:
        # Jobs ask admission through their door; the quota rules behind it are ours.
        from clusterjobs import admission as door

        from .admission import QuotaPolicy

        door.install(QuotaPolicy())
