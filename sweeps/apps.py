from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SweepsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "sweeps"
    verbose_name = _("Hyperparameter sweeps")

    def ready(self) -> None:
        from clusterjobs.runs import add_to_runs
        from clusterjobs.signals import job_moved

        from . import receivers, tasks, tracking  # noqa: F401 - the tasks register with Celery

        job_moved.connect(receivers.job_moved, dispatch_uid="sweeps.job_moved")
        # A trial's run is created by the dispatch: with its parent run and parameters.
        add_to_runs(tracking.trial_run_additions)
