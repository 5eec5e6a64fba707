"""The job modules send tasks through clusterjobs/queue.py, which holds the task objects that
tasks.py installs: sending reaches that very task, and a broker that is down loses nothing quietly."""

from clusterjobs import queue, tasks


def test_the_modules_send_the_tasks_that_tasks_py_defines():
    assert queue.installed.dispatch_job is tasks.dispatch_job
    assert queue.installed.sync_job_run is tasks.sync_job_run


def test_sending_reaches_its_task(monkeypatch):
    sent = []
    monkeypatch.setattr(
        tasks.sync_job_run, "apply_async", lambda args, kwargs=None, **options: sent.append((args, options))
    )
    assert queue.send_sync_run(7, countdown=30)
    assert sent == [((7,), {"countdown": 30})]


def test_a_broker_that_is_down_is_logged_not_raised(monkeypatch, caplog):
    def refuse(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.dispatch_job, "apply_async", refuse)
    assert not queue.send_dispatch(7)
    assert "could not enqueue dispatch_job(7,)" in caplog.text
