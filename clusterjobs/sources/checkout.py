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
# The site's known hosts (the contents of TALLER_GIT_SSH_KNOWN_HOSTS): with them, ssh checks the
# forge's key strictly.
KNOWN_HOSTS = "TALLER_GIT_KNOWN_HOSTS"
# On the local executor (the portal's own machine), the address the portal checked at dispatch,
# which the clone connects to (http.curloptResolve's host:port:address, or ssh options), or why
# the address is refused now (the clone then fails, saying so).
RESOLVE = "TALLER_GIT_RESOLVE"
SSH_PIN = "TALLER_GIT_SSH_PIN"
REFUSED = "TALLER_GIT_REFUSED"
# The clone step's own variables (the credential's are secret: a Kubernetes Secret), for it alone.
CREDENTIAL_NAMES = (USERNAME, TOKEN, SSH_KEY, KNOWN_HOSTS, RESOLVE, SSH_PIN, REFUSED)
SECRET_NAMES = (TOKEN, SSH_KEY)
STEP = "clone"
WORKSPACE = "/workspace"

# A helper that answers git's credential question from the environment (the token never appears on
# a command line), and an ssh key written to a file only this user reads, removed at the end.
CLONE_SCRIPT = r"""set -eu
export GIT_TERMINAL_PROMPT=0 GIT_CONFIG_NOSYSTEM=1 GIT_ASKPASS=true SSH_ASKPASS=true
export GIT_ALLOW_PROTOCOL=https:ssh:http:file HOME="${HOME:-/tmp}"
key="$HOME/.taller-git-key"
known="$HOME/.taller-known-hosts"
trap 'rm -f "$key" "$known"' EXIT
set -- -c credential.helper=
if [ -n "${TALLER_GIT_TOKEN:-}" ]; then
  set -- "$@" -c 'credential.helper=!f() { test "$1" = get || exit 0; echo "username=${TALLER_GIT_USERNAME:-git}"; echo "password=$TALLER_GIT_TOKEN"; }; f'
fi
export GIT_SSH_COMMAND="ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new"
if [ -n "${TALLER_GIT_KNOWN_HOSTS:-}" ]; then
  printf '%s\n' "$TALLER_GIT_KNOWN_HOSTS" > "$known"
  export GIT_SSH_COMMAND="ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=$known"
fi
if [ -n "${TALLER_GIT_SSH_KEY:-}" ]; then
  (umask 077 && printf '%s\n' "$TALLER_GIT_SSH_KEY" > "$key")
  export GIT_SSH_COMMAND="$GIT_SSH_COMMAND -i $key -o IdentitiesOnly=yes"
fi
if [ -n "${TALLER_GIT_REFUSED:-}" ]; then
  echo "taller: $TALLER_GIT_REFUSED"
  exit 1
fi
if [ -n "${TALLER_GIT_RESOLVE:-}" ]; then
  set -- "$@" -c "http.curloptResolve=$TALLER_GIT_RESOLVE"
fi
export GIT_SSH_COMMAND="$GIT_SSH_COMMAND${TALLER_GIT_SSH_PIN:-}"
echo "taller: fetching $TALLER_GIT_COMMIT from $TALLER_GIT_URL"
git init -q .
if ! git "$@" fetch -q --depth 1 "$TALLER_GIT_URL" "$TALLER_GIT_COMMIT" 2>/dev/null; then
  git "$@" fetch -q "$TALLER_GIT_URL" "+refs/heads/*:refs/remotes/origin/*" "+refs/tags/*:refs/tags/*"
fi
git -c advice.detachedHead=false checkout -q "$TALLER_GIT_COMMIT"
echo "taller: checked out $(git rev-parse HEAD)"
"""


UNPACK_STEP = "unpack"
SNAPSHOT_URL = "TALLER_SNAPSHOT_URL"
SNAPSHOT_DIGEST = "TALLER_SNAPSHOT_DIGEST"
SNAPSHOT_TOKEN = "TALLER_SNAPSHOT_TOKEN"
SNAPSHOT_REPLACE = "TALLER_SNAPSHOT_REPLACE"

# The "unpack" step where the portal's disk is not the job's (the Kubernetes init container, in the
# git image): the job's snapshot fetched from the portal with the job's own token (sent on stdin to
# curl, never on a command line where curl is there), its SHA-256 checked (the portal checked that
# archive's members at upload: only plain files and folders inside its tree), then unpacked into
# the workspace. On top of a checkout (``--git --with-changes``) the working tree is first emptied
# but for .git, so the job's tree is exactly the snapshot's, deleted files included.
UNPACK_SCRIPT = r"""set -eu
archive="${TMPDIR:-/tmp}/taller-snapshot.tar.gz"
trap 'rm -f "$archive"' EXIT
echo "taller: fetching code snapshot $TALLER_SNAPSHOT_DIGEST"
if command -v curl >/dev/null 2>&1; then
  printf 'Authorization: Token %s\n' "$TALLER_SNAPSHOT_TOKEN" \
    | curl -fsS --max-time 600 -H @- -o "$archive" "$TALLER_SNAPSHOT_URL"
else
  wget -q -T 600 --header "Authorization: Token $TALLER_SNAPSHOT_TOKEN" -O "$archive" "$TALLER_SNAPSHOT_URL"
fi
got=$(sha256sum "$archive" | cut -d ' ' -f 1)
if [ "$got" != "$TALLER_SNAPSHOT_DIGEST" ]; then
  echo "taller: the snapshot's SHA-256 is $got, not $TALLER_SNAPSHOT_DIGEST"
  exit 1
fi
if [ "${TALLER_SNAPSHOT_REPLACE:-}" = 1 ]; then
  find . -mindepth 1 -maxdepth 1 ! -name .git -exec rm -rf {} +
fi
tar -xzf "$archive" -C .
echo "taller: unpacked $(tar -tzf "$archive" | grep -vc '/$') files of the code snapshot"
"""


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


def unpack_command() -> list[str]:
    """The unpack step (Kubernetes) as an argument list: the script as one argument."""
    return ["sh", "-c", UNPACK_SCRIPT]


def snapshot_url(portal_url: str, job_id: int) -> str:
    """Where a job fetches its snapshot: the one endpoint its token may call."""
    return f"{portal_url.rstrip('/')}/api/v1/jobs/{int(job_id)}/snapshot/"


def unpack_env(source: dict, portal_url: str, job_id: int) -> dict[str, str]:
    """The unpack step's non-secret variables for a job's ``source``, or {} without a snapshot."""
    if not source.get("snapshot"):
        return {}
    env = {SNAPSHOT_URL: snapshot_url(portal_url, job_id), SNAPSHOT_DIGEST: source["snapshot"]}
    return env | ({SNAPSHOT_REPLACE: "1"} if source.get("git") else {})
