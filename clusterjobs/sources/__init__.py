"""Where a job's code comes from: a git repository at a commit.

- ``checkout.py``: what fetches the code where the job runs (the clone script the Kubernetes init
  container and the local runner both run, the variables it reads). Standard library only: the
  backends use it.
- ``remote.py``: which repository addresses are allowed, and the one ``git ls-remote`` that
  resolves a ref to a commit at submission.
- ``check.py``: a request's ``source`` checked (``validation.check_request`` calls it).
- ``models.py``, ``crypto.py``, ``actions.py``: a project's git credential, stored encrypted,
  set by its owners and never shown back; what a job's environment gets of it.
"""
