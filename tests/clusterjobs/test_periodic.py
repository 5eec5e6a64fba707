"""Periodic tasks run on a queue of their own, consumed by a worker of its own (the Procfile's and
docker-compose's `periodic`), so a long reconcile never holds the worker slots that dispatch needs;
a periodic message not started within its interval is dropped rather than piling up."""

import shlex
from pathlib import Path

import pytest
import yaml

from portal.celery import app
from portal.quotas.tasks import mirror_all_quotas

ROOT = Path(__file__).resolve().parents[2]


def queue_of(task: str, options: dict | None = None) -> str:
    return app.amqp.router.route(dict(options or {}), task)["queue"].name


def consumed(command: list[str]) -> set[str]:
    """The queues a `celery worker` command consumes (the default queue when it names none)."""
    for i, arg in enumerate(command):
        if arg in ("-Q", "--queues"):
            return set(command[i + 1].split(","))
        if arg.startswith("--queues="):
            return set(arg.split("=", 1)[1].split(","))
    return {app.conf.task_default_queue}


def test_beat_sends_every_periodic_task_to_the_periodic_queue_with_an_expiry(settings):
    assert settings.CELERY_BEAT_SCHEDULE
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert queue_of(entry["task"], entry["options"]) == "periodic"
        assert entry["options"]["expires"] == float(entry["schedule"])
    # What dispatch needs stays on the default queue.
    for task in ("clusterjobs.tasks.dispatch_job", "clusterjobs.tasks.sync_job_run"):
        assert queue_of(task) == app.conf.task_default_queue != "periodic"


def test_the_procfile_and_compose_run_a_worker_for_the_periodic_queue_alone():
    procfile = dict(
        line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()
    )
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for commands in (
        {name: shlex.split(command) for name, command in procfile.items()},
        {name: service.get("command") or [] for name, service in compose.items()},
    ):
        # The periodic worker also yields the CPU to the one dispatch runs on.
        assert commands["periodic"][:3] == ["nice", "-n", "10"]
        commands["periodic"] = commands["periodic"][3:]
        workers = {
            name: consumed(c) for name, c in commands.items() if c[:4] == ["celery", "-A", "portal", "worker"]
        }
        assert workers["periodic"] == {"periodic"}
        assert workers["worker"] == {app.conf.task_default_queue}


@pytest.mark.django_db
def test_the_hourly_quota_mirror_fans_out_on_the_periodic_queue(personas):
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        channel.queue_declare("periodic", durable=True)
        channel.queue_delete("periodic")  # the first message to it declares it
        assert mirror_all_quotas() == 1
        assert channel.queue_declare("periodic", passive=True).message_count == 1
        channel.queue_purge("periodic")
