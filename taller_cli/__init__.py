"""The `taller` command line: projects, jobs, logs, runs and quotas of a Taller portal, over its REST API."""
