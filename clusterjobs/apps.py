from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ClusterjobsConfig(AppConfig):
    name = "clusterjobs"
    verbose_name = _("Cluster jobs")

    def ready(self) -> None:
        # Register the Celery tasks in every process (web, worker, watcher) and hand queue.py the ones the
        # job modules send,
        # and the checks of the address handed to jobs (run by migrate, check --deploy, runserver).
        from . import checks, tasks  # noqa: F401
        from .provenance import actions as provenance
        from .provenance import tasks as provenance_tasks  # noqa: F401 - its task and job_moved receiver
        from .runs import add_to_runs

        add_to_runs(provenance.run_additions)  # a reproduction's run names the run it reproduces
