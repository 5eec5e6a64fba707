"""What the sweeps API reads and writes. A sweep's body is a job's body (the same fields, derived
from ``JobRequest`` by the jobs API) with the sweep's own: name, space, algorithm, objective,
direction, max_trials, max_parallel, seed. The rules are ``definition.check_sweep``'s."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from clusterjobs.api.serializers import GROUPS, StringField, request_fields
from portal.api import StrictSerializerMixin

from ..definition import Definition, check_sweep
from ..models import Algorithm, Direction, Sweep, Trial
from ..runner import best_of


class SweepCreateSerializer(StrictSerializerMixin, serializers.Serializer):
    """A new sweep; answers 201 with it, running: its first trials are submitted as jobs."""

    def get_fields(self) -> dict[str, serializers.Field]:
        job = request_fields()
        job.pop("name")
        return {
            "project": StringField(help_text=_("Slug of an active project where you are a member or owner.")),
            "name": StringField(help_text=_("A short name; each trial's job is named after it.")),
            "space": serializers.DictField(
                child=serializers.JSONField(),
                help_text=_(
                    "The search space: {name: {type: float|log_uniform|int, low, high, step?} or "
                    "{type: categorical, choices: [...]}}; each name written as {name} in the command or env."
                ),
            ),
            "algorithm": serializers.ChoiceField(
                choices=Algorithm.choices, default=Algorithm.TPE, help_text=_("grid, random or tpe.")
            ),
            "objective": StringField(help_text=_("The MLflow metric the trials log, e.g. val_loss.")),
            "direction": serializers.ChoiceField(
                choices=Direction.choices, default=Direction.MINIMIZE, help_text=_("minimize or maximize.")
            ),
            "max_trials": serializers.IntegerField(help_text=_("How many trials in all.")),
            "max_parallel": serializers.IntegerField(
                default=1, help_text=_("How many trials at once, at most.")
            ),
            "seed": serializers.IntegerField(default=0, help_text=_("The sampler's seed.")),
            "prune": serializers.BooleanField(
                default=False,
                help_text=_(
                    "Stop a trial whose objective, logged per step, is worse than the median of earlier trials."
                ),
            ),
            **job,
        }

    def to_definition(self, user, project) -> Definition:
        data = dict(self.validated_data)
        data.pop("project")
        for group in GROUPS:
            data |= data.pop(group, None) or {}
        return check_sweep(user, project, **data)


class ExtendSerializer(StrictSerializerMixin, serializers.Serializer):
    trials = serializers.IntegerField(help_text=_("How many more trials."))


def _time(value) -> str | None:
    return None if value is None else serializers.DateTimeField().to_representation(value)


def trial_data(trial: Trial) -> dict:
    job = trial.job
    ran = job.ran_for()
    return {
        "number": trial.number,
        "params": trial.params,
        "state": trial.state,
        "job": job.pk,
        "job_status": job.status,
        "objective": trial.objective,
        "note": trial.note,
        "mlflow_run_id": job.mlflow_run_id,
        "started_at": _time(job.started_at),
        "ended_at": _time(trial.ended_at),
        "duration_seconds": None if ran is None else round(ran.total_seconds(), 1),
    }


class TrialSerializer(serializers.Serializer):
    """One trial: its parameters, its job, and the objective its run logged."""

    number = serializers.IntegerField(help_text=_("1, 2, ... in the order asked."))
    params = serializers.DictField(child=serializers.JSONField(), help_text=_("The trial's values."))
    state = serializers.CharField(help_text=_("active, complete, failed, pruned or cancelled."))
    job = serializers.IntegerField(help_text=_("The trial's job."))
    job_status = serializers.CharField(help_text=_("The job's status."))
    objective = serializers.FloatField(allow_null=True, help_text=_("The objective its run logged."))
    note = serializers.CharField(help_text=_("Why a trial failed, when the job did not say."))
    mlflow_run_id = serializers.CharField(help_text=_("The trial's run, a child of the sweep's."))
    started_at = serializers.DateTimeField(allow_null=True, help_text=_("When its job started."))
    ended_at = serializers.DateTimeField(allow_null=True, help_text=_("When it was counted."))
    duration_seconds = serializers.FloatField(allow_null=True, help_text=_("How long its job ran."))

    def to_representation(self, trial: Trial) -> dict:
        return trial_data(trial)


class SweepSerializer(serializers.ModelSerializer):
    """A sweep: its definition, status, counts and best trial."""

    project = serializers.SlugRelatedField(slug_field="slug", read_only=True, help_text=_("The project."))
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, help_text=_("Who made it.")
    )
    counts = serializers.SerializerMethodField(help_text=_("Trials by state."))
    best = serializers.SerializerMethodField(help_text=_("The best trial so far, or null."))
    spec = serializers.SerializerMethodField(help_text=_("The job of a trial, with placeholders like {lr}."))

    class Meta:
        model = Sweep
        fields = [
            "id",
            "project",
            "name",
            "created_by",
            "status",
            "status_reason",
            "algorithm",
            "objective",
            "direction",
            "max_trials",
            "max_parallel",
            "seed",
            "prune",
            "space",
            "spec",
            "counts",
            "best",
            "mlflow_experiment_id",
            "mlflow_run_id",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "id": {"help_text": _("The sweep's id.")},
            "name": {"help_text": _("A short name; each trial's job is named after it.")},
            "status": {"help_text": _("running, paused, completed or stopped.")},
            "status_reason": {"help_text": _("Why it is in its status, in the reader's language.")},
            "algorithm": {"help_text": _("grid, random or tpe.")},
            "objective": {"help_text": _("The MLflow metric the trials log.")},
            "direction": {"help_text": _("minimize or maximize.")},
            "max_trials": {"help_text": _("How many trials in all.")},
            "max_parallel": {"help_text": _("How many trials at once, at most.")},
            "seed": {"help_text": _("The sampler's seed.")},
            "prune": {"help_text": _("Whether trials worse than the median are stopped early.")},
            "space": {"help_text": _("The search space: a range or choices per placeholder.")},
            "mlflow_experiment_id": {"help_text": _("The MLflow experiment of the sweep's runs.")},
            "mlflow_run_id": {"help_text": _("The sweep's parent run in MLflow.")},
            "created_at": {"help_text": _("When it was made.")},
            "finished_at": {"help_text": _("When it completed or was stopped.")},
        }

    def get_counts(self, sweep: Sweep) -> dict[str, int]:
        counts = {state: 0 for state in ("active", "complete", "failed", "pruned", "cancelled")}
        for trial in sweep.trials.all():
            counts[trial.state] += 1
        return counts

    @extend_schema_field(TrialSerializer(allow_null=True))
    def get_best(self, sweep: Sweep) -> dict | None:
        # From the trials the view prefetched (with their jobs): no query per sweep of a list.
        best = best_of(sweep, list(sweep.trials.all()))
        return None if best is None else trial_data(best)

    def get_spec(self, sweep: Sweep) -> dict:
        secret = set(sweep.spec.get("secret_env") or [])
        env = {k: "********" if k in secret else v for k, v in (sweep.spec.get("env") or {}).items()}
        return {**sweep.spec, "env": env}


class SweepDetailSerializer(SweepSerializer):
    """A sweep with all its trials."""

    trials = serializers.SerializerMethodField(help_text=_("Every trial, in order."))

    class Meta(SweepSerializer.Meta):
        fields = [*SweepSerializer.Meta.fields, "trials"]
        read_only_fields = fields

    @extend_schema_field(TrialSerializer(many=True))
    def get_trials(self, sweep: Sweep) -> list[dict]:
        return [trial_data(t) for t in sweep.trials.all()]
