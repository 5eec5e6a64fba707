from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SweepsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "sweeps"
    verbose_name = _("Hyperparameter sweeps")

    def ready(self) -> None:
        from clusterjobs.signals import job_moved

        from . import receivers, tasks  # noqa: F401 - the tasks register with Celery

        job_moved.connect(receivers.job_moved, dispatch_uid="sweeps.job_moved")
