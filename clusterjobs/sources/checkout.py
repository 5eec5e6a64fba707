"""What fetches a job's code where it runs: one POSIX shell script, run by the Kubernetes init
container (in the git image, into the /workspace emptyDir) and by the local runner (into the job's
folder), before the job's command starts.

The script reads everything from its environment, never from its command line: the repository
(``TALLER_GIT_URL``), the commit (``TALLER_GIT_COMMIT``) and the project's credential, if any
(``TALLER_GIT_USERNAME`` with ``TALLER_GIT_TOKEN`` for https, ``TALLER_GIT_SSH_KEY`` for ssh).
On Kubernetes the credential's variables refer to the job's Secret and only the init container
has them; the local runner drops them before the job's command starts.

Standard library only (the backends and the detached local runner import it).
"""

URL = "TALLER_GIT_URL"
COMMIT = "TALLER_GIT_COMMIT"
USERNAME = "TALLER_GIT_USERNAME"
TOKEN = "TALLER_GIT_TOKEN"
SSH_KEY = "TALLER_GIT_SSH_KEY"
# The credential's variables: secret (a Kubernetes Secret), and for the clone step alone.
CREDENTIAL_NAMES = (USERNAME, TOKEN, SSH_KEY)
SECRET_NAMES = (TOKEN, SSH_KEY)
STEP = "clone"
WORKSPACE = "/workspace"

# A helper that answers git's credential question from the environment (the token never appears on
# a command line), and an ssh key written to a file only this user reads, removed at the end.
CLONE_SCRIPT = r"""set -eu
export GIT_TERMINAL_PROMPT=0 GIT_CONFIG_NOSYSTEM=1 GIT_ASKPASS=true SSH_ASKPASS=true
export GIT_ALLOW_PROTOCOL=https:ssh:http:file HOME="${HOME:-/tmp}"
key="$HOME/.taller-git-key"
trap 'rm -f "$key"' EXIT
set -- -c credential.helper=
if [ -n "${TALLER_GIT_TOKEN:-}" ]; then
  set -- "$@" -c 'credential.helper=!f() { test "$1" = get || exit 0; echo "username=${TALLER_GIT_USERNAME:-git}"; echo "password=$TALLER_GIT_TOKEN"; }; f'
fi
if [ -n "${TALLER_GIT_SSH_KEY:-}" ]; then
  (umask 077 && printf '%s\n' "$TALLER_GIT_SSH_KEY" > "$key")
  export GIT_SSH_COMMAND="ssh -i $key -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=accept-new"
fi
echo "taller: fetching $TALLER_GIT_COMMIT from $TALLER_GIT_URL"
git init -q .
if ! git "$@" fetch -q --depth 1 "$TALLER_GIT_URL" "$TALLER_GIT_COMMIT" 2>/dev/null; then
  git "$@" fetch -q "$TALLER_GIT_URL" "+refs/heads/*:refs/remotes/origin/*" "+refs/tags/*:refs/tags/*"
fi
git -c advice.detachedHead=false checkout -q "$TALLER_GIT_COMMIT"
echo "taller: checked out $(git rev-parse HEAD)"
"""


UNPACK_STEP = "unpack"


def snapshot_name(project: str, digest: str) -> str:
    """Where a project's snapshot lives in the "snapshots" storage."""
    return f"{project}/{digest}.tar.gz"


def clone_command() -> list[str]:
    """The clone step as an argument list (the script as one argument, no user input in it)."""
    return ["sh", "-c", CLONE_SCRIPT]


def clone_env(source: dict) -> dict[str, str]:
    """The clone step's non-secret variables for a job's ``source``, or {} for a job without one."""
    if not source.get("git"):
        return {}
    return {URL: source["git"], COMMIT: source["commit"]}
