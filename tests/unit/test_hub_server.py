"""The local Hub server speaks what huggingface-hub expects: downloads, snapshots, listings, errors."""

from __future__ import annotations

import os

import httpx2
import pytest
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import GatedRepoError, LocalEntryNotFoundError, RepositoryNotFoundError

from support.hub_server import LFS_THRESHOLD, HubRepos, HubResponse, HubServer

WEIGHTS = bytes(range(256)) * (LFS_THRESHOLD // 256 + 1)


@pytest.fixture
def repos():
    repos = HubRepos()
    repos.add("acme/model", {"config.json": "{}", "model.safetensors": WEIGHTS, "docs/guide.md": "# guide"})
    repos.add("acme/gated", {"config.json": "{}"}, gated=True, allowed_tokens=("hf_ok",))
    return repos


@pytest.fixture
def hub(repos):
    with HubServer(repos) as server:
        yield server


def test_snapshot_download_fetches_every_file(hub, tmp_path):
    folder = snapshot_download("acme/model", endpoint=hub.url, cache_dir=tmp_path)
    assert sorted(os.listdir(folder)) == ["config.json", "docs", "model.safetensors"]
    with open(os.path.join(folder, "model.safetensors"), "rb") as f:
        assert f.read() == WEIGHTS


def test_large_files_are_lfs_with_linked_etag_and_size(hub):
    response = httpx2.head(f"{hub.url}/acme/model/resolve/main/model.safetensors")
    assert response.status_code == 200
    assert response.headers["X-Linked-Size"] == str(len(WEIGHTS))
    assert response.headers["X-Linked-Etag"] == response.headers["ETag"]
    assert len(response.headers["X-Repo-Commit"]) == 40


def test_range_requests(hub):
    url = f"{hub.url}/acme/model/resolve/main/model.safetensors"
    part = httpx2.get(url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.content == WEIGHTS[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(WEIGHTS)}"
    assert httpx2.get(url, headers={"Range": "bytes=-5"}).content == WEIGHTS[-5:]
    assert httpx2.get(url, headers={"Range": f"bytes={len(WEIGHTS)}-"}).status_code == 416


def test_model_info_and_tree_listing(hub):
    api = HfApi(endpoint=hub.url, token=False)
    info = api.model_info("acme/model", files_metadata=True)
    sizes = {s.rfilename: s.size for s in info.siblings}
    assert sizes == {"config.json": 2, "docs/guide.md": 7, "model.safetensors": len(WEIGHTS)}
    top = {entry.path for entry in api.list_repo_tree("acme/model")}
    assert top == {"config.json", "docs", "model.safetensors"}
    deep = {entry.path for entry in api.list_repo_tree("acme/model", recursive=True)}
    assert deep == top | {"docs/guide.md"}


def test_gated_and_missing_repos(hub, tmp_path):
    with pytest.raises(GatedRepoError):
        snapshot_download("acme/gated", endpoint=hub.url, cache_dir=tmp_path, token=False)
    assert snapshot_download("acme/gated", endpoint=hub.url, cache_dir=tmp_path, token="hf_ok")
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("acme/nothing", "config.json", endpoint=hub.url, cache_dir=tmp_path)


def test_the_responder_can_be_wrapped_to_inject_faults(hub, tmp_path):
    served = hub.responder
    hub.responder = lambda request: (
        HubResponse(400, {"Content-Length": "0"}) if request.method == "HEAD" else served(request)
    )
    with pytest.raises(LocalEntryNotFoundError, match="error happened while trying to locate the file"):
        hf_hub_download("acme/model", "config.json", endpoint=hub.url, cache_dir=tmp_path)
    hub.responder = served
    assert hf_hub_download("acme/model", "config.json", endpoint=hub.url, cache_dir=tmp_path)
