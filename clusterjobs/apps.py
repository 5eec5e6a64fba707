from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ClusterjobsConfig(AppConfig):
    name = "clusterjobs"
    verbose_name = _("Cluster jobs")

    def ready(self) -> None:
        # Register the Celery tasks in every process (web, worker, watcher): actions enqueue them by name.
        from . import checks, tasks  # noqa: F401
