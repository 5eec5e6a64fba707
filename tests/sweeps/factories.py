import factory

from sweeps.models import Sweep


class SweepFactory(factory.django.DjangoModelFactory):
    """A sweep row as ``create_sweep`` leaves it (without its MLflow run: no server needed)."""

    class Meta:
        model = Sweep

    name = "bowl"
    spec = factory.LazyFunction(
        lambda: {
            "image": "python:3.11-slim",
            "command": ["python", "-m", "tests.sweeps.synthetic_train", "--x", "{x}", "--y", "{y}"],
            "env": {},
            "secret_env": [],
            "cpu": "0.5",
            "memory_mib": 256,
            "gpus": 0,
            "gpu_type": "",
            "time_limit_minutes": 5,
            "experiment": "default",
        }
    )
    space = factory.LazyFunction(
        lambda: {
            "x": {"type": "float", "low": 0.0, "high": 1.0},
            "y": {"type": "float", "low": 0.0, "high": 1.0},
        }
    )
    algorithm = "random"
    objective = "loss"
    direction = "minimize"
    max_trials = 4
    max_parallel = 2
    status_message = "started by %(user)s"
    status_values = factory.LazyAttribute(lambda s: {"user": s.created_by.username})


def sweep_with_trials(personas) -> Sweep:
    """A running sweep of the personas' project with two ended trials and one running (its page
    polls, its charts draw)."""
    from clusterjobs.models import JobStatus
    from sweeps.models import Trial
    from tests.clusterjobs.factories import JobFactory

    sweep = SweepFactory(project=personas.project, created_by=personas.bob)
    for number, (x, objective) in enumerate([(0.2, 0.4), (0.6, 0.05), (0.9, None)], start=1):
        job = JobFactory(
            project=personas.project,
            submitter=personas.bob,
            status=JobStatus.SUCCEEDED if objective is not None else JobStatus.RUNNING,
            mlflow_run_id=f"{number:032x}",
        )
        Trial.objects.create(
            sweep=sweep,
            number=number,
            params={"x": x, "y": 0.5},
            job=job,
            state="complete" if objective is not None else "active",
            objective=objective,
        )
    return sweep
