"""The bench's own database, beside (never inside) the one DATABASE_URL names: <name>_bench."""

import os
import tempfile
from pathlib import Path

import dj_database_url


def bench_database_url() -> str:
    """PostgreSQL: the same server, database ``<name>_bench``. No DATABASE_URL: a temporary SQLite file."""
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        return f"sqlite:///{Path(tempfile.mkdtemp(prefix='taller-bench-')) / 'bench.sqlite3'}"
    config = dj_database_url.parse(url)
    if config["ENGINE"] != "django.db.backends.postgresql":
        raise SystemExit(f"bench: unsupported DATABASE_URL engine {config['ENGINE']}")
    name = config["NAME"]
    return url[: url.rindex(name)] + f"{name}_bench" + url[url.rindex(name) + len(name) :]


def recreate(url: str) -> None:
    """Drop and create the bench database, so each run starts from the same empty state."""
    config = dj_database_url.parse(url)
    if config["ENGINE"] != "django.db.backends.postgresql":
        return
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        host=config["HOST"] or None,
        port=config["PORT"] or None,
        user=config["USER"] or None,
        password=config["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    ) as connection:
        name = sql.Identifier(config["NAME"])
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(name))
