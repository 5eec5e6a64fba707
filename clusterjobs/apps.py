from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ClusterjobsConfig(AppConfig):
    name = "clusterjobs"
    verbose_name = _("Cluster jobs")
