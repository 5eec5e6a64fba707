"""System checks of the cluster jobs app: run by ``manage.py`` commands (migrate, runserver,
watch_jobs, check), so a portal that may not run its executor refuses to start."""

from django.conf import settings
from django.core.checks import Error, register


@register()
def local_executor_isolation(app_configs, **kwargs) -> list[Error]:
    """The local executor without a working bwrap runs every job as the portal's user: with DEBUG
    off that needs TALLER_LOCAL_EXECUTOR_UNISOLATED=true (the backend refuses jobs otherwise too)."""
    if settings.TALLER_EXECUTOR != "local":
        return []
    from .backends.local import isolation_problem

    problem = isolation_problem()
    if problem is None:
        return []
    return [
        Error(
            problem,
            hint="apt-get install bubblewrap (and allow unprivileged user namespaces)",
            id="clusterjobs.E001",
        )
    ]
