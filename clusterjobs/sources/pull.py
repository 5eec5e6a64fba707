"""What fetches a job's data where it runs: the "pull" step, after the checkout of its git source
and before its command, runs ``dvc pull`` of the job's DVC targets in the checkout, from the
project's DVC remote. The versions pulled are those the commit's ``.dvc`` files and ``dvc.lock`` pin
(the portal read the same files at submission: ``sources.data``).

The Kubernetes init container (in the DVC image) and the local runner (the portal's own ``dvc``)
run the same POSIX shell script. It reads the remote from its environment (``TALLER_DVC_REMOTE``,
``TALLER_DVC_ENDPOINT``) and the remote's credential from two variables that are secret: on
Kubernetes they refer to the job's Secret and only this init container has them; the local runner
drops them before the job's command starts. The script hands them to DVC's S3 client under the
names it reads, in its own process only. The targets are the script's arguments, never part of it.

The remote is added to the checkout's ``.dvc/config.local`` (never committed; removed afterwards),
so a repository's own default remote is not used: the project's remote is where its data are. The
repository's ``.dvc/config`` is the job author's: the remote gets a name it cannot know in advance
(so it cannot add options to it, such as a credentials file of the machine), and the cache is the
checkout's own, copied out (so it cannot point DVC's writes elsewhere, or make links there).

Standard library only (the backends and the detached local runner import it).
"""

REMOTE = "TALLER_DVC_REMOTE"
ENDPOINT = "TALLER_DVC_ENDPOINT"
ACCESS_KEY_ID = "TALLER_DVC_ACCESS_KEY_ID"
SECRET_ACCESS_KEY = "TALLER_DVC_SECRET_ACCESS_KEY"
# The credential's variables: secret, and for the pull step alone.
CREDENTIAL_NAMES = (ACCESS_KEY_ID, SECRET_ACCESS_KEY)
STEP = "pull"

# DVC keeps state outside the checkout (its site cache, its global and system configuration):
# everything goes to a folder of the step's own, so nothing of the machine's DVC setup is read
# and a read-only /var/tmp does not matter.
PULL_SCRIPT = r"""set -eu
state="${TMPDIR:-/tmp}/taller-dvc"
mkdir -p "$state/site" "$state/global" "$state/system"
export DVC_NO_ANALYTICS=1 DVC_SITE_CACHE_DIR="$state/site"
export DVC_GLOBAL_CONFIG_DIR="$state/global" DVC_SYSTEM_CONFIG_DIR="$state/system"
export GIT_TERMINAL_PROMPT=0 HOME="${HOME:-/tmp}"
if [ -n "${TALLER_DVC_ACCESS_KEY_ID:-}" ]; then export AWS_ACCESS_KEY_ID="$TALLER_DVC_ACCESS_KEY_ID"; fi
if [ -n "${TALLER_DVC_SECRET_ACCESS_KEY:-}" ]; then export AWS_SECRET_ACCESS_KEY="$TALLER_DVC_SECRET_ACCESS_KEY"; fi
unset TALLER_DVC_ACCESS_KEY_ID TALLER_DVC_SECRET_ACCESS_KEY
if [ -z "${TALLER_DVC_REMOTE:-}" ]; then
  echo "taller: the project has no DVC remote (removed since the job was submitted?)"
  exit 1
fi
trap 'rm -f .dvc/config.local' EXIT
echo "taller: pulling $* from $TALLER_DVC_REMOTE"
remote="taller$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
dvc remote add --local --force "$remote" "$TALLER_DVC_REMOTE" >/dev/null
if [ -n "${TALLER_DVC_ENDPOINT:-}" ]; then
  dvc remote modify --local "$remote" endpointurl "$TALLER_DVC_ENDPOINT"
fi
dvc config --local cache.dir "$PWD/.dvc/cache"
dvc config --local cache.type copy
dvc pull --remote "$remote" -- "$@"
echo "taller: pulled $*"
"""


def pull_command(targets: list[str]) -> list[str]:
    """The pull step as an argument list: the script, then the targets as its arguments."""
    return ["sh", "-c", PULL_SCRIPT, "taller-pull", *targets]


def targets(source: dict) -> list[str]:
    """The DVC targets of a job's ``source`` (none without)."""
    return list(source.get("dvc") or []) if source.get("git") else []
