"""The local Hub server's fault injection: 5xx bursts, slow responses, a connection cut mid-file.

(What the server says when nothing is injected is tested in test_hub_server.py.)
"""

from __future__ import annotations

import httpx2
import pytest

from support.hub_server import LFS_THRESHOLD, HubRepos, HubServer, api_calls, file_downloads
from support.waiting import wait_for

WEIGHTS = bytes(range(256)) * (LFS_THRESHOLD // 256 + 1)


@pytest.fixture
def hub():
    repos = HubRepos()
    repos.add("acme/model", {"config.json": "{}", "model.safetensors": WEIGHTS})
    with HubServer(repos) as server:
        yield server


def test_a_burst_fails_the_next_matching_requests_then_stops(hub):
    hub.faults.burst(2, status=503, match=api_calls)
    url = f"{hub.url}/api/models/acme/model"
    assert httpx2.get(f"{hub.url}/acme/model/resolve/main/config.json").status_code == 200  # not matched
    assert [httpx2.get(url).status_code for _ in range(3)] == [503, 503, 200]


def test_slow_responses_still_deliver_every_byte(hub):
    hub.faults.slow(delay_s=0.05, bytes_per_s=20 * 1024 * 1024, match=file_downloads("model.safetensors"))
    response = httpx2.get(f"{hub.url}/acme/model/resolve/main/model.safetensors")
    assert response.content == WEIGHTS
    assert hub.body_bytes(file_downloads("model.safetensors")) == len(WEIGHTS)


def test_a_cut_closes_the_connection_mid_file_once(hub):
    hub.faults.cut(after_bytes=1000, match=file_downloads("model.safetensors"))
    url = f"{hub.url}/acme/model/resolve/main/model.safetensors"
    with pytest.raises(httpx2.RemoteProtocolError):
        httpx2.get(url)
    assert httpx2.get(url).content == WEIGHTS
    assert [s.body_bytes for s in hub.served] == [1000, len(WEIGHTS)]


def test_clear_disarms_every_fault(hub):
    hub.faults.burst(5, status=500)
    hub.faults.clear()
    assert httpx2.get(f"{hub.url}/api/models/acme/model").status_code == 200


def test_head_requests_send_no_body_and_are_recorded(hub):
    response = httpx2.head(f"{hub.url}/acme/model/resolve/main/model.safetensors")
    assert response.headers["Content-Length"] == str(len(WEIGHTS))
    # The server records a response after it went out: the client may have read it first.
    wait_for("the HEAD response recorded", lambda: hub.served, timeout=10, interval=0.01)
    assert [(s.request.method, s.status, s.body_bytes) for s in hub.served] == [("HEAD", 200, 0)]
