from django.apps import AppConfig
from django.core.signals import setting_changed
from django.utils.translation import gettext_lazy as _


class ExperimentsConfig(AppConfig):
    name = "experiments"
    verbose_name = _("Experiments and models")

    def ready(self) -> None:
        from . import gateway

        def timeout_changed(*, setting: str, **kwargs) -> None:
            if setting == "MLFLOW_TIMEOUT_SECONDS":
                gateway.configure()

        gateway.configure()
        setting_changed.connect(timeout_changed, weak=False, dispatch_uid="experiments.mlflow_timeout")
