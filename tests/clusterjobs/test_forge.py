"""A commit's page on its forge, from https and ssh addresses of GitHub, GitLab (also self-hosted
and nested groups), Gitea/Forgejo and Bitbucket; none for an unknown host or a malformed commit."""

import pytest

from clusterjobs.provenance.forge import commit_url
from clusterjobs.provenance.trail import pinned_image

C = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("address", "page"),
    [
        ("https://github.com/lab/train.git", f"https://github.com/lab/train/commit/{C}"),
        ("git@github.com:lab/train.git", f"https://github.com/lab/train/commit/{C}"),
        ("ssh://git@github.com/lab/train", f"https://github.com/lab/train/commit/{C}"),
        ("https://gitlab.com/group/sub/train.git", f"https://gitlab.com/group/sub/train/-/commit/{C}"),
        ("git@gitlab.uni.edu:group/train.git", f"https://gitlab.uni.edu/group/train/-/commit/{C}"),
        ("https://codeberg.org/lab/train.git", f"https://codeberg.org/lab/train/commit/{C}"),
        ("ssh://git@forgejo.uni.edu:2222/lab/train.git", f"https://forgejo.uni.edu/lab/train/commit/{C}"),
        ("https://gitea.uni.edu/lab/train", f"https://gitea.uni.edu/lab/train/commit/{C}"),
        ("git@bitbucket.org:lab/train.git", f"https://bitbucket.org/lab/train/commits/{C}"),
        ("https://git.uni.edu/lab/train.git", ""),
        ("/srv/git/train.git", ""),
        ("https://github.com/train.git", ""),
        ("https://github.com/lab/<script>.git", ""),
    ],
)
def test_commit_pages(address, page):
    assert commit_url(address, C) == page


def test_no_page_for_a_malformed_commit():
    assert commit_url("https://github.com/lab/train.git", "main") == ""
    assert commit_url("https://github.com/lab/train.git", C.upper()) == ""


@pytest.mark.parametrize(
    ("image", "digest", "pinned"),
    [
        ("python:3.11", "docker.io/library/python@sha256:" + "a" * 64, "python:3.11@sha256:" + "a" * 64),
        ("python:3.11", "docker-pullable://python@sha256:" + "b" * 64, "python:3.11@sha256:" + "b" * 64),
        ("python:3.11", "sha256:" + "c" * 64, "python:3.11@sha256:" + "c" * 64),
        ("python@sha256:" + "d" * 64, "sha256:" + "e" * 64, "python@sha256:" + "d" * 64),
        ("python:3.11", "", "python:3.11"),
        ("python:3.11", "sha256:short", "python:3.11"),
    ],
)
def test_images_are_pinned_by_their_digest(image, digest, pinned):
    assert pinned_image(image, digest) == pinned
