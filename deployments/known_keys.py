"""What a serving process knows of the deployment keys it has seen called.

A key's answer (its deployment's served fields, and who calls) is used again while the shared
``GENERATION`` is the value read before the key was looked up. Every change of a key or of what
the serving path reads of a deployment (a revocation, a stop, a rollout to a new address, a
deletion) calls ``forget``: this process forgets at once, and the generation takes a new value
once the change is committed, so every other process forgets from its next call. The serving path
reads the generation in the round trip to the cache that counts a key's call anyway
(``keys.keyed_call``): a call with a known key makes no query.
"""

import secrets
from typing import Any, NamedTuple

from django.core.cache import cache
from django.db import transaction

GENERATION = "serve-keys-generation"
SECONDS = 300  # a key's answer is looked up again after this long whatever happens
MOST = 10_000  # keys remembered; past it, the memory starts again


class Known(NamedTuple):
    until: float  # time.monotonic()
    generation: Any  # GENERATION's value read before the lookup
    deployment: Any  # a bare Deployment with the served fields, shared: read, never changed
    who: str  # key:<id>


# (key hash, project slug, deployment name) -> what was found
known: dict[tuple[str, str, str], Known] = {}


def forget(**_signal) -> None:
    known.clear()
    transaction.on_commit(lambda: cache.set(GENERATION, secrets.token_hex(8), None))
