from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PipelinesConfig(AppConfig):
    name = "pipelines"
    verbose_name = _("Pipelines")

    def ready(self) -> None:
        # The tasks registered in every process, and the receiver of clusterjobs' job_moved.
        from clusterjobs.runs import add_to_runs

        from . import engine, receivers, tasks  # noqa: F401

        # A step's run is created by the dispatch, under the pipeline's parent run.
        add_to_runs(engine.step_run_additions)
