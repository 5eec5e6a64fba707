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
