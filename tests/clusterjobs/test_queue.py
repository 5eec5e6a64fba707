"""The job modules send tasks by the names in clusterjobs/queue.py: each one names a task that
tasks.py registers, and sending it reaches that task."""

from clusterjobs import queue, tasks
from portal.celery import app


def test_every_name_the_modules_send_is_a_registered_task():
    for name in queue.TASKS:
        task = getattr(tasks, name.rsplit(".", 1)[1])  # shared_task gives a proxy of the app's task
        assert app.tasks[name] is task._get_current_object()


def test_sending_a_name_reaches_its_task(monkeypatch):
    sent = []
    monkeypatch.setattr(
        tasks.sync_job_run, "apply_async", lambda args, kwargs=None, **options: sent.append((args, options))
    )
    assert queue.send(queue.SYNC_JOB_RUN, 7, countdown=30)
    assert sent == [((7,), {"countdown": 30})]


def test_a_broker_that_is_down_is_logged_not_raised(monkeypatch, caplog):
    def refuse(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.dispatch_job, "apply_async", refuse)
    assert not queue.send(queue.DISPATCH_JOB, 7)
    assert "could not enqueue clusterjobs.tasks.dispatch_job(7,)" in caplog.text
