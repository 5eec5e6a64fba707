"""What may be asked of a job: the one ``JobRequest``, a plain frozen value.

A job's spec is written out once, here. The form, the API serializer, a re-run and the job
templates give and take a ``JobRequest``; the job row takes ``request.model_fields()``; the backend
spec embeds it (``JobSpec.request``). A new field is a field of ``JobRequest`` (with its check in
``validation.check_request``), a column of ``models.JobRequestFields`` (and its migration), a field
of the form's layout, and what the backend's manifest does with it.

It imports nothing of the portal's models or checks (those build it, in ``validation``), so that
the backends, below them, can hold one.
"""

import dataclasses
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.translation import gettext_lazy

RESOURCES = "resources"


def _meta(help_text: str, *, model: str = "", group: str = "") -> dict:
    """A field's description for the API (``help``), its column when it is named otherwise
    (``model``), and the object of the API body it sits in (``group``)."""
    return {"help": help_text, "model": model, "group": group}


@dataclass(frozen=True, kw_only=True)
class JobRequest:
    """A job as asked, checked: what to run and what it may use. Built by ``check_request`` (from
    a form, an API body, a re-run) or read back from a job (``from_model``)."""

    name: str = field(metadata=_meta(gettext_lazy("A short name for the job.")))
    # None in a raw request: the site's default image (TALLER_DEFAULT_JOB_IMAGE).
    image: str = field(
        metadata=_meta(gettext_lazy("Container image; on the local backend it is recorded and ignored."))
    )
    command: list[str] = field(
        metadata=_meta(gettext_lazy("The program and its arguments, as a list (no shell)."))
    )
    env: dict[str, str] = field(default_factory=dict, metadata=_meta(gettext_lazy("Environment variables.")))
    secret_env: list[str] = field(
        default_factory=list,
        metadata=_meta(
            gettext_lazy("Names in env whose values are secret: never shown back."), model="secret_env_names"
        ),
    )
    cpu: Decimal = field(
        default=Decimal("1"), metadata=_meta(gettext_lazy("CPU cores, e.g. 0.5 or 4."), group=RESOURCES)
    )
    memory_mib: int = field(default=2048, metadata=_meta(gettext_lazy("Memory in MiB."), group=RESOURCES))
    gpus: int = field(default=0, metadata=_meta(gettext_lazy("Number of GPUs."), group=RESOURCES))
    gpu_type: str = field(
        default="",
        metadata=_meta(
            gettext_lazy("GPU product, e.g. NVIDIA-A100-SXM4-40GB; needs gpus >= 1."), group=RESOURCES
        ),
    )
    time_limit_minutes: int = field(
        default=60, metadata=_meta(gettext_lazy("The job is stopped after this many minutes."))
    )
    experiment: str = field(
        default="default",
        metadata=_meta(
            gettext_lazy("The project's MLflow experiment the run goes to."), model="experiment_name"
        ),
    )
    source: dict[str, str | list[str]] = field(
        default_factory=dict,
        metadata=_meta(
            gettext_lazy(
                'Where the code comes from: {"git": https:// or ssh:// address, "ref": branch, tag or '
                'commit}; the ref is resolved to a commit ("commit") at submission. Empty: the image\'s code. '
                'With a git source, "dvc": [paths] names DVC targets: the versions the commit pins are '
                "pulled before the job starts."
            )
        ),
    )

    @staticmethod
    def fields() -> tuple[dataclasses.Field, ...]:
        """The request's fields, in the order the form and the API show them."""
        return dataclasses.fields(JobRequest)

    @staticmethod
    def groups() -> dict[str, str]:
        """Which fields the API body nests in an object: {"cpu": "resources", ...}."""
        return {f.name: f.metadata["group"] for f in JobRequest.fields() if f.metadata["group"]}

    @classmethod
    def from_model(cls, row, **values) -> "JobRequest":
        """The request a stored job (or a template) was made from; ``values`` for what ``row``
        lacks (a template's name). Fields the row has no column for take their defaults."""
        for f in cls.fields():
            column = f.metadata["model"] or f.name
            if f.name not in values and hasattr(row, column):
                values[f.name] = getattr(row, column)
        return cls(**values)

    def as_dict(self) -> dict:
        """The fields by name (the keyword arguments of ``check_request``)."""
        return {f.name: getattr(self, f.name) for f in self.fields()}

    def model_fields(self) -> dict:
        """The job row's columns for this request."""
        return {f.metadata["model"] or f.name: getattr(self, f.name) for f in self.fields()}
