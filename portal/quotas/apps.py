from django.apps import AppConfig
from django.db.models.signals import post_save
from django.utils.translation import gettext_lazy as _


class QuotasConfig(AppConfig):
    name = "portal.quotas"
    label = "quotas"
    verbose_name = _("Quotas and usage")

    def ready(self) -> None:
        # Jobs ask admission through their door; the quota rules behind it are ours.
        from clusterjobs import admission as door
        from portal.projects.models import Project

        from .admission import QuotaPolicy
        from .models import ensure_quota

        door.install(QuotaPolicy())

        # Quotas belong to projects, not the other way round: a new project gets its default quota
        # here, so that the projects app never imports this one.
        def give_default_quota(sender, instance, created, raw=False, **kwargs):
            if created and not raw:
                ensure_quota(instance)

        post_save.connect(give_default_quota, sender=Project, weak=False, dispatch_uid="quotas.default_quota")
