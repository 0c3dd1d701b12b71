"""The local cluster's images are built again only when their sources change, and a rebuild leaves no
nameless image behind (e2e/local/localcluster/images.py). What building writes into the checkout (pip
wheel's egg-info, bytecode) is not a source: it once was, and every clean checkout (CI's) built the
operator images twice, about 50 s each."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "e2e" / "local"))

from localcluster import images  # noqa: E402  (lives in e2e/local, not an installed package)


@pytest.fixture
def checkout(tmp_path, monkeypatch) -> pathlib.Path:
    for name, text in {"pyproject.toml": "[project]\n", "README.md": "# x\n", "images/Dockerfile": "FROM x\n",
                       "operator/modelfleet/__init__.py": ""}.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    monkeypatch.setattr(images, "REPO", tmp_path)
    monkeypatch.setattr(images, "image_id", lambda tag: "sha256:base")
    return tmp_path


def test_what_building_writes_into_the_checkout_is_not_a_source(checkout):
    before = images._source_digest()
    (checkout / "operator" / "modelfleet.egg-info").mkdir()
    (checkout / "operator" / "modelfleet.egg-info" / "PKG-INFO").write_text("Name: modelfleet\n")
    (checkout / "operator" / "modelfleet" / "__pycache__").mkdir()
    (checkout / "operator" / "modelfleet" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    assert images._source_digest() == before


def test_a_changed_source_is_built_again(checkout):
    before = images._source_digest()
    (checkout / "operator" / "modelfleet" / "__init__.py").write_text("VERSION = 2\n")
    assert images._source_digest() != before


def test_a_rebuild_removes_the_image_its_tag_named_before(monkeypatch):
    ids = iter(["sha256:old", "sha256:new"])
    monkeypatch.setattr(images, "image_id", lambda tag: next(ids))
    monkeypatch.setattr(images, "_run", lambda *cmd: "")
    removed: list[list[str]] = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: removed.append(cmd))
    images._bud(pathlib.Path("Dockerfile"), pathlib.Path("."), "localhost/x:1")
    assert removed == [[images.BUILDAH, "rmi", "sha256:old"]]


@pytest.mark.parametrize("before", [None, "sha256:same"])
def test_nothing_is_removed_when_nothing_was_replaced(monkeypatch, before):
    monkeypatch.setattr(images, "image_id", lambda tag: before)
    monkeypatch.setattr(images, "_run", lambda *cmd: "")
    removed: list[list[str]] = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: removed.append(cmd))
    images._bud(pathlib.Path("Dockerfile"), pathlib.Path("."), "localhost/x:1")
    assert removed == []
