"""The collectors ``/metrics`` runs, in order. Each is a class whose ``collect()`` yields metric
families computed at scrape time (deployments: their traffic and latency through the portal)."""

from .budgets import BudgetsCollector
from .deployments import DeploymentsCollector
from .jobs import JobsCollector
from .services import MlflowCollector, WatcherCollector

COLLECTORS = [JobsCollector, BudgetsCollector, WatcherCollector, MlflowCollector, DeploymentsCollector]
