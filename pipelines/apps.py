from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PipelinesConfig(AppConfig):
    name = "pipelines"
    verbose_name = _("Pipelines")

    def ready(self) -> None:
        # The tasks registered in every process, and the receiver of clusterjobs' job_moved.
        from . import receivers, tasks  # noqa: F401
