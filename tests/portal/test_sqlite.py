"""The embedded default's SQLite holds concurrent writers: the web server's threads, the worker and
the watcher are separate processes on one file, and each transaction reads before it writes (a
quota check, then the job; a claim, then its token). With SQLite's default deferred transactions
the second writer's lock upgrade fails at once with "database is locked", whatever the busy
timeout; the settings start every transaction with the write lock (IMMEDIATE) in WAL mode."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Each process: THREADS threads, each ROUNDS read-then-write transactions on one counter, through
# Django's connection with the settings of the embedded default. Prints the errors it met.
WRITERS = """
import sys, threading
import django
django.setup()
from django.db import connection, transaction

errors = []

def work():
    for _ in range(int(sys.argv[2])):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT n FROM counter WHERE id = 1")
                (n,) = cursor.fetchone()
                cursor.execute("UPDATE counter SET n = %s WHERE id = 1", [n + 1])
        except Exception as error:
            errors.append(f"{type(error).__name__}: {error}")
    connection.close()

threads = [threading.Thread(target=work) for _ in range(int(sys.argv[1]))]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print("\\n".join(errors))
"""

SETUP = """
import django
django.setup()
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
    cursor.execute("INSERT INTO counter VALUES (1, 0)")
    cursor.execute("PRAGMA journal_mode")
    print(cursor.fetchone()[0])
"""

COUNT = """
import django
django.setup()
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("SELECT n FROM counter WHERE id = 1")
    print(cursor.fetchone()[0])
"""


def embedded_env(var: Path) -> dict:
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "CACHE_URL"}}
    return {**env, "TALLER_VAR_DIR": str(var), "DJANGO_SETTINGS_MODULE": "portal.settings"}


def python(env: dict, script: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def output(process: subprocess.Popen) -> str:
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    return stdout.strip()


def test_concurrent_read_then_write_transactions_from_several_processes(settings):
    env = embedded_env(settings.VAR_DIR)
    journal_mode = output(python(env, SETUP))
    processes, threads, rounds = 3, 4, 10
    writers = [python(env, WRITERS, str(threads), str(rounds)) for _ in range(processes)]
    errors = [line for writer in writers for line in output(writer).splitlines()]
    assert errors == []
    assert output(python(env, COUNT)) == str(processes * threads * rounds)  # no update lost
    assert journal_mode == "wal"  # readers never wait for the writer
