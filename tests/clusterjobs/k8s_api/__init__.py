"""A small Kubernetes API server for the tests: the real `kubernetes` client talks to it over HTTP.

It speaks the parts of the REST and watch protocol the portal uses (namespaces, batch/v1 Jobs, Pods
and their logs, core/v1 Events, ResourceQuotas, LimitRanges, Secrets, apps/v1 Deployments and
Services, with merge patches) and answers the way a real API server does: 201 with server-side
defaults filled in, 404/409/422/403 as ``Status`` objects with upstream wording, newline-delimited
watch streams with resourceVersions, and a 410 ``Expired`` ERROR event for a resourceVersion older
than the retained history, and lists in pages (``limit`` and ``continue``, across namespaces). It
also plays the Job controller (a Pod per new Job, or a ``FailedCreate`` event when the namespace's
ResourceQuota refuses the Pod) and the garbage collector (deleting a Job deletes the objects it
owns; its Pods go at once, or, with ``linger_pods``, terminate and stay counted by the quota until
``end_termination()``), and lets tests move Jobs, Pods and Deployments' rollouts (``workloads``)
through their states, add Events, compact the history, drop open watch streams, restart the server
(every connection cut, the port refused, then served again on the same port) and count the requests
per verb and path.
"""

from .cluster import FakeKubernetes
from .protocol import KINDS, ApiError, now, quantity
from .validation import SCHEMA_VERSIONS, schema_errors, semantic_errors

__all__ = [
    "KINDS",
    "SCHEMA_VERSIONS",
    "ApiError",
    "FakeKubernetes",
    "now",
    "quantity",
    "schema_errors",
    "semantic_errors",
]
