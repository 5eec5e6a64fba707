"""The collectors ``/metrics`` runs, in order. Each is a class whose ``collect()`` yields metric
families computed at scrape time. Deployments (model serving) add theirs here when they come:
their traffic and latency as a collector of their own, next to these."""

from .budgets import BudgetsCollector
from .jobs import JobsCollector
from .services import MlflowCollector, WatcherCollector

COLLECTORS = [JobsCollector, BudgetsCollector, WatcherCollector, MlflowCollector]
