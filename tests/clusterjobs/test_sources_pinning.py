"""The portal's git calls connect to the address its check resolved, never to what a second DNS
answer says (DNS rebinding): the name is resolved once, and git is given that address
(``http.curloptResolve`` for http(s), ssh's ``HostName`` with ``HostKeyAlias`` for ssh). And with
the site's known hosts file, ssh checks the forge's key strictly against it.

The rebinding is simulated with a resolver that answers the portal's check with the real git
server's address and anything later with another one: ``socket.getaddrinfo`` is the system's DNS,
outside the code under test. git itself asks the system, for which the name (under the reserved
``.test`` domain) does not exist, so git reaching the server at all shows it used the pinned
address."""

import socket
import subprocess

import pytest

from clusterjobs.sources import remote
from clusterjobs.sources.remote import Pin, SourceError, check_url, resolve


class Rebinding:
    """A DNS that gives ``first`` once, then ``later`` to every other question."""

    def __init__(self, first: str, later: str) -> None:
        self.first, self.later, self.asked = first, later, []

    def __call__(self, host, port, *args, **kwargs):
        self.asked.append(host)
        address = self.first if len(self.asked) == 1 else self.later
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]


def test_git_reaches_the_address_the_check_resolved_not_a_later_answer(public_git, settings, monkeypatch):
    server, repo = public_git
    port = server.server.server_address[1]
    name = f"forge.rebind.test:{port}"
    settings.TALLER_GIT_TRUSTED_HOSTS = [name]  # plain http, for the test's server
    dns = Rebinding("127.0.0.1", "10.255.255.1")
    monkeypatch.setattr(remote.socket, "getaddrinfo", dns)

    url = f"http://{name}/lab.git"
    assert resolve(url, "main") == repo.commits["main"]
    assert dns.asked == ["forge.rebind.test"]  # asked once: git resolved nothing of its own
    assert any(path.startswith("/lab.git/info/refs") for _method, path in server.requests)

    # git left to itself resolves the name again, and here finds nothing: the pin is what reached it.
    plain = subprocess.run(["git", "ls-remote", url], capture_output=True, text=True, timeout=60)
    assert plain.returncode != 0 and "resolve host" in plain.stderr.lower()


def test_a_name_that_answers_privately_is_refused_before_git_runs(settings, monkeypatch):
    settings.TALLER_GIT_TRUSTED_HOSTS = []
    dns = Rebinding("10.0.0.5", "10.0.0.5")
    monkeypatch.setattr(remote.socket, "getaddrinfo", dns)
    with pytest.raises(SourceError, match="private address"):
        resolve("https://forge.rebind.test/lab.git", "main")


def test_the_pin_for_each_kind_of_address(settings, monkeypatch):
    settings.TALLER_GIT_TRUSTED_HOSTS = []
    monkeypatch.setattr(remote.socket, "getaddrinfo", Rebinding("93.184.216.34", "10.0.0.1"))
    assert check_url("https://forge.example.org/lab.git") == (
        None,
        Pin("forge.example.org", 443, "93.184.216.34"),
    )
    pin = Pin("forge.example.org", 443, "93.184.216.34")
    assert pin.git_args() == ["-c", "http.curloptResolve=forge.example.org:443:93.184.216.34"]
    assert Pin("forge.example.org", 8443, "2001:db8::1").git_args() == [
        "-c",
        "http.curloptResolve=forge.example.org:8443:[2001:db8::1]",
    ]
    monkeypatch.setattr(remote.socket, "getaddrinfo", Rebinding("93.184.216.34", "10.0.0.1"))
    message, ssh = check_url("git@forge.example.org:lab/train.git")
    assert message is None and ssh == Pin("forge.example.org", 22, "93.184.216.34", ssh=True)
    assert ssh.git_args() == []
    assert ssh.ssh_options() == " -o HostName=93.184.216.34 -o HostKeyAlias=forge.example.org"


def test_ssh_checks_the_forges_key_against_the_sites_known_hosts(settings, tmp_path):
    assert "StrictHostKeyChecking=accept-new" in remote.ssh_command()
    known = tmp_path / "known hosts"
    known.write_text(
        "forge.example.org ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
    )
    settings.TALLER_GIT_SSH_KNOWN_HOSTS = str(known)
    command = remote.ssh_command()
    assert "StrictHostKeyChecking=yes" in command and f"UserKnownHostsFile='{known}'" in command
    env = remote.git_env(None, str(tmp_path))
    assert env["GIT_SSH_COMMAND"] == command


@pytest.mark.django_db
def test_the_known_hosts_reach_the_clone_step_alone(settings, tmp_path, personas):
    from clusterjobs.backends.kubernetes import job_manifest
    from clusterjobs.sources import checkout
    from clusterjobs.sources.jobs import source_environment

    from .conftest import assert_valid, make_spec
    from .factories import JobFactory

    known = tmp_path / "known_hosts"
    known.write_text(
        "forge.example.org ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
    )
    settings.TALLER_GIT_SSH_KNOWN_HOSTS = str(known)
    settings.TALLER_EXECUTOR = "kubernetes"  # the cluster resolves with its own DNS: nothing pinned
    source = {"git": "ssh://git@forge.example.org/lab.git", "ref": "main", "commit": "a" * 40}
    job = JobFactory(project=personas.project, submitter=personas.bob, source=source)
    env, secret = source_environment(job)
    assert env == {checkout.KNOWN_HOSTS: known.read_text()} and secret == set()
    assert source_environment(JobFactory(project=personas.project, submitter=personas.bob)) == ({}, set())

    manifest = job_manifest(make_spec(source=source, env={"SEED": "1", **env}))
    assert_valid(manifest)
    pod = manifest["spec"]["template"]["spec"]
    init_env = {e["name"]: e.get("value") for e in pod["initContainers"][0]["env"]}
    assert init_env[checkout.KNOWN_HOSTS] == known.read_text()
    assert checkout.KNOWN_HOSTS not in {e["name"] for e in pod["containers"][0]["env"]}
    assert "StrictHostKeyChecking=yes -o UserKnownHostsFile=$known" in checkout.CLONE_SCRIPT


@pytest.mark.django_db
def test_the_local_executors_clone_connects_to_the_address_checked_at_dispatch(
    personas, public_git, local, settings, monkeypatch
):
    from clusterjobs.sources import checkout
    from clusterjobs.sources.jobs import source_environment

    from .conftest import make_spec
    from .factories import JobFactory

    server, repo = public_git
    name = f"forge.rebind.test:{server.server.server_address[1]}"
    settings.TALLER_GIT_TRUSTED_HOSTS = [name]
    monkeypatch.setattr(remote.socket, "getaddrinfo", Rebinding("127.0.0.1", "10.255.255.1"))
    source = {"git": f"http://{name}/lab.git", "ref": "main", "commit": repo.commits["main"]}
    job = JobFactory(project=personas.project, submitter=personas.bob, source=source)
    env, _secret = source_environment(job)
    assert env == {checkout.RESOLVE: f"{name}:127.0.0.1"}

    local.submit(
        make_spec(95, command=["python", "train.py"], source=source, env=env, time_limit_seconds=120)
    )
    status = local.wait(95, 120)
    lines = local.logs(95, "genomics")
    assert status.phase == "succeeded", (status.reason, lines)
    assert f"taller: checked out {repo.commits['main']}" in lines  # git alone cannot resolve the name

    # The name answers privately by the time the job is dispatched: the clone refuses, saying why.
    settings.TALLER_GIT_TRUSTED_HOSTS = []
    monkeypatch.setattr(remote.socket, "getaddrinfo", Rebinding("10.0.0.5", "10.0.0.5"))
    late = {**source, "git": "https://forge.rebind.test/lab.git"}
    env, _secret = source_environment(
        JobFactory(project=personas.project, submitter=personas.bob, source=late)
    )
    local.submit(make_spec(96, command=["python", "train.py"], source=late, env=env, time_limit_seconds=120))
    refused = local.wait(96, 120)
    assert refused.phase == "failed" and refused.reason.startswith(
        "clone failed (exit code 1): taller: The host"
    )
    assert "private address" in refused.reason
