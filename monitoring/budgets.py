"""GPU-hours and CPU-hours (as seconds, Prometheus' base unit) each active project used in its quota's current period, beside its
budget: one query for the quotas and one per kind of period in use (four at most) and source of use
(jobs; deployments)."""

from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from clusterjobs.models import Job
from portal.projects.models import Project
from portal.quotas.models import Quota
from portal.quotas.periods import other_uses, period_window, ran_within, sums


class BudgetsCollector:
    def collect(self):
        now = timezone.now()
        quotas = list(
            Quota.objects.filter(project__status=Project.Status.ACTIVE).values(
                "project_id", "project__slug", "period", "gpu_hours_per_period", "cpu_hours_per_period"
            )
        )
        used = {}
        for period in sorted({quota["period"] for quota in quotas}):
            in_period = {"project__quota__period": period, "project__status": Project.Status.ACTIVE}
            # Jobs' runs, and what other workloads held (deployments), as the usage pages sum them.
            for source in [Job.objects.all(), *other_uses(None)]:
                rows = ran_within(source.filter(**in_period), period_window(period, now), now)
                for row in rows.values("project_id").annotate(**sums()).order_by():
                    gpu, cpu = used.get(row["project_id"], (0.0, 0.0))
                    used[row["project_id"]] = (
                        gpu + (row["gpu_seconds"] or 0.0),
                        cpu + (row["cpu_seconds"] or 0.0),
                    )
        # In Prometheus' base unit: GPU-seconds (GPU-hours × 3600), CPU-seconds likewise.
        families = {
            name: GaugeMetricFamily(name, documentation, labels=["project", "period"])
            for name, documentation in (
                ("taller_project_gpu_used_seconds", "GPU-seconds used in the quota's current period."),
                (
                    "taller_project_gpu_budget_seconds",
                    "GPU-seconds (GPU-hours × 3600) the quota allows per period.",
                ),
                ("taller_project_cpu_used_seconds", "CPU-seconds used in the quota's current period."),
                (
                    "taller_project_cpu_budget_seconds",
                    "CPU-seconds (CPU-hours × 3600) the quota allows per period.",
                ),
            )
        }
        for quota in sorted(quotas, key=lambda quota: quota["project__slug"]):
            labels = [quota["project__slug"], quota["period"]]
            gpu, cpu = used.get(quota["project_id"], (0.0, 0.0))
            families["taller_project_gpu_used_seconds"].add_metric(labels, gpu)
            families["taller_project_cpu_used_seconds"].add_metric(labels, cpu)
            families["taller_project_gpu_budget_seconds"].add_metric(
                labels, 3600 * float(quota["gpu_hours_per_period"])
            )
            families["taller_project_cpu_budget_seconds"].add_metric(
                labels, 3600 * float(quota["cpu_hours_per_period"])
            )
        yield from families.values()
