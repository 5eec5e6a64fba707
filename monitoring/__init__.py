"""Metrics for operators: ``/metrics`` in Prometheus' text format, for the configured scrapers only.

A site-level package: it imports the apps (jobs, quotas, projects) and no app imports it. Its values
are computed when Prometheus scrapes, from the database (a few aggregate queries whatever the
number of jobs and projects) and from the notes the processes leave in the shared cache
(``portal.observe``), so every web worker answers with the same figures.
"""
