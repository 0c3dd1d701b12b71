"""``modelfleet prepull`` against the local Hub server: what it fetches, where, and each failure's message.

Most runs call the command in this process (``main([...])``, the same
argument parsing and exit codes); the ones about the process itself (killed
mid-file, two replicas at once, what its output never contains) run it as a
subprocess, as the kubelet does.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from modelfleet.cli.main import main
from modelfleet.engines import profile_for
from modelfleet.runtime.fetch import PARTIAL_SUFFIX
from support.hub_server import HubRepos, HubResponse, HubServer, file_downloads
from support.waiting import wait_for

ENGINE_PATTERNS = profile_for("vllm").files
MIB = 1024 * 1024
# Big enough to be an LFS file (etag = sha256) and to be killed in the middle of.
BIG = hashlib.sha256(b"seed").digest() * (12 * MIB // 32)
SHARD_1 = b"shard one " * 1000
SHARD_2 = b"shard two " * 2000
INDEX = json.dumps({"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors",
                                                  "b": "model-00002-of-00002.safetensors"}})
MISTRAL_LIKE = {
    "config.json": '{"model_type": "mixtral"}',
    "generation_config.json": '{"do_sample": false}',
    "model.safetensors.index.json": INDEX,
    "model-00001-of-00002.safetensors": SHARD_1,
    "model-00002-of-00002.safetensors": SHARD_2,
    "consolidated.safetensors": SHARD_1 + SHARD_2,
    "pytorch_model.bin": b"old copy" * 500,
    "tokenizer.json": '{"version": "1.0"}',
    "tokenizer_config.json": '{"bos_token": "<s>"}',
    "README.md": "# model",
}
LOADED = sorted(["config.json", "generation_config.json", "model.safetensors.index.json",
                 "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                 "tokenizer.json", "tokenizer_config.json"])
ALLOWED_TOKEN = "hf_s3cret_allowed_Zq8W"
WRONG_TOKEN = "hf_s3cret_wrong_Kx2P"
FAST_RETRIES = ("--attempts", "3", "--backoff-seconds", "0.01")
MODELFLEET = Path(sys.executable).parent / "modelfleet"


def model_api(request) -> bool:
    return request.path.startswith("/api/models/")


@pytest.fixture
def repos():
    repos = HubRepos()
    repos.add("acme/mistral", MISTRAL_LIKE)
    repos.add("acme/big", {"config.json": "{}", "model.safetensors": BIG, "tokenizer.json": "{}"})
    repos.add("acme/old", {"config.json": "{}", "pytorch_model.bin": b"bin" * 100})
    repos.add("acme/gated", {"config.json": "{}", "model.safetensors": SHARD_1}, gated=True,
              allowed_tokens=(ALLOWED_TOKEN,))
    return repos


@pytest.fixture
def hub(repos):
    with HubServer(repos) as server:
        yield server


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "huggingface" / "hub"


def args(model: str, cache: Path, *extra: str, revision: str = "main", include=ENGINE_PATTERNS) -> list[str]:
    command = ["prepull", "--model-id", model, "--revision", revision, "--cache-dir", str(cache)]
    for pattern in include:
        command += ["--include", pattern]
    return command + list(extra)


@pytest.fixture
def prepull(hub, cache, monkeypatch, capsys):
    """Run the command in this process; returns (exit code, stdout, stderr)."""
    # The command redacts this process's log records from then on (catalog.redact): not beyond the test.
    monkeypatch.setattr(logging, "_logRecordFactory", logging.getLogRecordFactory())
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.delenv("HF_TOKEN", raising=False)

    def run(model: str, *extra: str, token: str | None = None, **options) -> tuple[int, str, str]:
        if token is None:
            monkeypatch.delenv("HF_TOKEN", raising=False)
        else:
            monkeypatch.setenv("HF_TOKEN", token)
        code = main(args(model, cache, *FAST_RETRIES, *extra, **options))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def spawn(hub, cache: Path, model: str, *extra: str, token: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HOME": str(cache.parent)}
    env.pop("HF_TOKEN", None)
    if token is not None:
        env["HF_TOKEN"] = token
    return subprocess.Popen([str(MODELFLEET), *args(model, cache, *extra)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def snapshot_files(cache: Path, model: str) -> list[str]:
    storage = cache / f"models--{model.replace('/', '--')}"
    (snapshot,) = (storage / "snapshots").iterdir()
    return sorted(str(p.relative_to(snapshot)) for p in snapshot.rglob("*") if p.is_file())


def downloaded(hub) -> list[str]:
    """Files whose bytes the server sent (GETs with a body)."""
    return sorted({s.request.path.rsplit("/", 1)[-1] for s in hub.served
                   if file_downloads()(s.request) and s.body_bytes})


def blobs(cache: Path, model: str) -> Path:
    return cache / f"models--{model.replace('/', '--')}" / "blobs"


# ---- what it fetches, and the layout the engine reads -------------------------------------------


def test_it_fetches_exactly_the_files_the_engine_loads(prepull, hub, cache, repos):
    code, out, err = prepull("acme/mistral")
    assert (code, err) == (0, "")
    assert snapshot_files(cache, "acme/mistral") == LOADED
    assert downloaded(hub) == LOADED  # not consolidated.safetensors, not pytorch_model.bin, not README.md
    commit = repos.get("acme/mistral").refs["main"]
    assert (cache / "models--acme--mistral" / "refs" / "main").read_text() == commit
    assert f"revision main is commit {commit}" in out


def test_a_pinned_commit_gets_a_ref_to_itself(prepull, cache, repos):
    """TGI's router reads the cache with the Rust hf-hub crate, which finds files only through
    refs/<revision> (tests/engine/test_prepull_tgi.py runs the real router on this layout)."""
    commit = repos.get("acme/mistral").refs["main"]
    code, _, err = prepull("acme/mistral", revision=commit)
    assert (code, err) == (0, "")
    refs = cache / "models--acme--mistral" / "refs"
    assert sorted(p.name for p in refs.iterdir()) == [commit]
    assert (refs / commit).read_text() == commit
    assert snapshot_files(cache, "acme/mistral") == LOADED


def test_wider_patterns_still_fetch_one_copy_of_the_weights(prepull, hub, cache):
    code, out, _ = prepull("acme/mistral", include=("*",))
    assert code == 0
    weights = [f for f in snapshot_files(cache, "acme/mistral") if f.endswith((".safetensors", ".bin"))]
    assert weights == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    assert "skipping consolidated.safetensors, pytorch_model.bin" in out


def test_bin_weights_when_the_repo_has_no_safetensors(prepull, cache):
    code, _, _ = prepull("acme/old", include=("*.json", "*.bin"))
    assert code == 0
    assert snapshot_files(cache, "acme/old") == ["config.json", "pytorch_model.bin"]


OFFLINE_ENGINE = """
import json, sys
from pathlib import Path
from huggingface_hub import hf_hub_download, snapshot_download
cache = sys.argv[1]
folder = snapshot_download("acme/mistral", revision="main", cache_dir=cache, allow_patterns="*.safetensors")
config = hf_hub_download("acme/mistral", "config.json", revision="main", cache_dir=cache)
print(json.dumps({"weights": sorted(p.name for p in Path(folder).glob("*.safetensors")),
                  "config": json.loads(Path(config).read_text())}))
"""


def test_an_engine_resolves_the_revision_offline_in_the_cache_it_leaves(prepull, cache):
    """What vLLM does with HF_HUB_OFFLINE=1: snapshot_download(*.safetensors) and hf_hub_download, from the cache.

    The repo ships consolidated.safetensors, which the cache rightly lacks; the
    snapshot must still count as complete offline (the Hub client's listing of
    the whole repo, which would say otherwise, is gone). A process of its own,
    as the engine is: the client reads HF_HUB_OFFLINE once, at import.
    """
    assert prepull("acme/mistral")[0] == 0
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": "http://127.0.0.1:9"}
    result = subprocess.run([sys.executable, "-c", OFFLINE_ENGINE, str(cache)], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    weights = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    assert json.loads(result.stdout) == {"weights": weights, "config": {"model_type": "mixtral"}}


def test_a_second_run_fetches_nothing(prepull, hub, cache):
    assert prepull("acme/mistral")[0] == 0
    hub.served.clear()
    code, out, _ = prepull("acme/mistral")
    assert code == 0
    assert downloaded(hub) == []
    assert "7 files, 0.03 MB; 0.03 MB of it already in the cache" in out


def test_progress_lines_fit_kubectl_logs(prepull, hub):
    hub.faults.slow(bytes_per_s=8 * MIB, match=file_downloads("model.safetensors"))
    code, out, _ = prepull("acme/big", "--progress-seconds", "0.2")
    assert code == 0
    lines = [line for line in out.splitlines() if "MB/s" in line]
    assert len(lines) >= 3
    pattern = (r"^prepull acme/big@main: \d+\.\d% \(\d+\.\d\d of 12\.58 MB\), \d+\.\d MB/s, "
               r"ETA (\d+s|\d+m\d\ds|\d+h\d\dm|unknown)$")  # hours: a first line on a busy machine, few bytes in
    for line in lines:
        assert re.match(pattern, line), line
    assert "\r" not in out and "|" not in out  # no progress bars


# ---- resuming ---------------------------------------------------------------------------------------


def test_a_connection_cut_mid_file_resumes_where_it_stopped(prepull, hub, cache):
    hub.faults.cut(after_bytes=5 * MIB, match=file_downloads("model.safetensors"))
    code, out, _ = prepull("acme/big")
    assert code == 0
    gets = [s for s in hub.served if file_downloads("model.safetensors")(s.request)]
    assert [s.body_bytes for s in gets] == [5 * MIB, len(BIG) - 5 * MIB]
    assert gets[1].request.headers["range"] == f"bytes={5 * MIB}-"
    assert hub.body_bytes(file_downloads("model.safetensors")) == len(BIG)
    assert "fetching model.safetensors: " in out and "retrying in" in out
    assert (cache / "models--acme--big" / "snapshots").rglob("model.safetensors")
    assert (blobs(cache, "acme/big") / hashlib.sha256(BIG).hexdigest()).read_bytes() == BIG


def test_killed_mid_file_and_restarted_it_fetches_only_what_is_missing(hub, cache):
    hub.faults.slow(bytes_per_s=2 * MIB, match=file_downloads("model.safetensors"))
    first = spawn(hub, cache, "acme/big")
    partial = wait_for("a partial download of 3 MiB", lambda: next(
        (p for p in blobs(cache, "acme/big").glob(f"*{PARTIAL_SUFFIX}") if p.stat().st_size >= 3 * MIB), None),
        timeout=60, interval=0.1)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)
    kept = partial.stat().st_size
    assert 3 * MIB <= kept < len(BIG)

    hub.faults.clear()
    hub.served.clear()
    second = spawn(hub, cache, "acme/big")
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    fetched = hub.body_bytes(file_downloads("model.safetensors"))
    assert fetched == len(BIG) - kept < len(BIG)
    assert (blobs(cache, "acme/big") / hashlib.sha256(BIG).hexdigest()).read_bytes() == BIG
    assert list(blobs(cache, "acme/big").glob(f"*{PARTIAL_SUFFIX}")) == []


def test_replicas_sharing_a_cache_download_once(hub, cache):
    hub.faults.slow(bytes_per_s=4 * MIB, match=file_downloads("model.safetensors"))
    first = spawn(hub, cache, "acme/big")
    wait_for("the first pre-pull to start the big file",
             lambda: blobs(cache, "acme/big").is_dir() and any(blobs(cache, "acme/big").glob(f"*{PARTIAL_SUFFIX}")),
             timeout=60, interval=0.1)
    second = spawn(hub, cache, "acme/big")
    outputs = [process.communicate(timeout=120) for process in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outputs
    assert hub.body_bytes(file_downloads("model.safetensors")) == len(BIG)
    assert "waiting for another pre-pull of this model on the same cache" in outputs[1][0]


# ---- failures: exit code and the message a user sees ------------------------------------------


def test_a_gated_repo_without_a_token(prepull):
    code, _, err = prepull("acme/gated")
    assert code == 77
    assert err.startswith("error: prepull acme/gated@main: the repository is gated and no token was given (HTTP 401)")
    assert "tokenSecretRef" in err


def test_a_gated_repo_with_a_token_it_does_not_allow(prepull):
    code, _, err = prepull("acme/gated", token=WRONG_TOKEN)
    assert code == 77
    assert "the token in HF_TOKEN is not allowed to read it (HTTP 403)" in err
    assert WRONG_TOKEN not in err


def test_a_gated_repo_with_an_allowed_token(prepull, hub):
    assert prepull("acme/gated", token=ALLOWED_TOKEN)[0] == 0
    assert {r.token for r in hub.requests if "gated" in r.path} == {ALLOWED_TOKEN}


def test_a_token_the_hub_does_not_accept(prepull, hub):
    body = b'{"error": "Invalid credentials in Authorization header"}'
    hub.responder = lambda request: HubResponse(401, {"X-Error-Message": "Invalid credentials in Authorization header",
                                                      "Content-Length": str(len(body))}, body)
    code, _, err = prepull("acme/mistral", token=WRONG_TOKEN)
    assert code == 77
    assert "the Hub does not accept the token in HF_TOKEN (HTTP 401: invalid, expired or revoked)" in err


def test_a_missing_repository(prepull):
    code, _, err = prepull("acme/nothing")
    assert code == 66
    assert err.startswith("error: prepull acme/nothing@main: the repository does not exist on http://127.0.0.1:")
    assert "check spec.model.id" in err


def test_a_missing_revision(prepull):
    code, _, err = prepull("acme/mistral", revision="v9")
    assert code == 66
    assert err.startswith("error: prepull acme/mistral@v9: the revision does not exist in the repository")


def test_a_repo_without_weights_the_engine_loads(prepull):
    code, _, err = prepull("acme/old")
    assert code == 65
    assert "no weights among the files the engine loads" in err and "pytorch_model.bin" not in downloaded_names(err)


def downloaded_names(text: str) -> str:
    return text.split("matched", 1)[-1]


def test_a_hub_that_keeps_failing_is_retried_a_bounded_number_of_times(prepull, hub):
    hub.faults.burst(1000, status=503)
    code, out, err = prepull("acme/mistral")
    assert code == 69
    assert err.startswith("error: prepull acme/mistral@main: the Hub kept failing while reading the repository's "
                          "file list: 3 attempts in a row over ")
    assert "last error: HTTP 503" in err
    assert len([r for r in hub.requests if model_api(r)]) == 3
    assert out.count("retrying in") == 2


def test_a_burst_of_server_errors_is_ridden_out(prepull, hub, cache):
    hub.faults.burst(2, status=502, match=model_api)
    code, out, _ = prepull("acme/mistral")
    assert code == 0
    assert "reading the repository's file list: HTTP 502" in out
    assert snapshot_files(cache, "acme/mistral") == LOADED


def test_server_errors_on_a_file_download_are_retried(prepull, hub, cache):
    hub.faults.burst(2, status=503, match=file_downloads("model.safetensors"))
    code, out, _ = prepull("acme/big")
    assert code == 0
    assert "fetching model.safetensors: HTTP 503" in out
    assert (blobs(cache, "acme/big") / hashlib.sha256(BIG).hexdigest()).read_bytes() == BIG


def test_a_slow_hub_is_waited_for(prepull, hub, cache):
    hub.faults.slow(delay_s=0.5, match=model_api)
    assert prepull("acme/mistral")[0] == 0
    assert snapshot_files(cache, "acme/mistral") == LOADED


def test_when_the_hub_is_down_an_earlier_complete_pull_is_used(prepull, hub):
    assert prepull("acme/mistral")[0] == 0
    hub.faults.burst(1000, status=503)
    code, out, _ = prepull("acme/mistral")
    assert code == 0
    assert "the Hub is unreachable; using commit" in out


def test_a_commit_pulled_without_its_ref_gets_it_when_the_hub_is_down(prepull, hub, cache, repos):
    """A cache a pre-pull filled before commits got refs: the weights are in place, the ref is written."""
    commit = repos.get("acme/mistral").refs["main"]
    assert prepull("acme/mistral", revision=commit)[0] == 0
    ref = cache / "models--acme--mistral" / "refs" / commit
    ref.unlink()
    hub.faults.burst(1000, status=503)
    code, out, _ = prepull("acme/mistral", revision=commit)
    assert code == 0
    assert f"the Hub is unreachable; using commit {commit}" in out
    assert ref.read_text() == commit


def test_a_file_whose_size_differs_from_the_listing(prepull, hub):
    served = hub.responder

    def lying_listing(request):
        response = served(request)
        if not model_api(request):
            return response
        info = json.loads(response.body)
        for sibling in info["siblings"]:
            if sibling["rfilename"] == "config.json":
                sibling["size"] += 10
        body = json.dumps(info).encode()
        return type(response)(200, {**response.headers, "Content-Length": str(len(body))}, body)

    hub.responder = lying_listing
    code, _, err = prepull("acme/mistral")
    assert code == 76
    assert "config.json: the Hub lists 35 bytes but serves 25" in err


def test_a_full_disk(prepull, cache):
    """The partial file an earlier run left is /dev/full, which answers every write with ENOSPC.

    That is the kernel's own error through the same open and write calls a
    full volume fails in; a size-limited tmpfs would need mount privileges
    this test cannot assume.
    """
    directory = blobs(cache, "acme/big")
    directory.mkdir(parents=True)
    (directory / f"{hashlib.sha256(BIG).hexdigest()}.earlier{PARTIAL_SUFFIX}").symlink_to("/dev/full")
    code, _, err = prepull("acme/big")
    assert code == 73
    assert err.startswith(f"error: prepull acme/big@main: no space left on the cache volume at {cache}: ")
    assert "the model's files take 12.58 MB" in err and "the pre-pull resumes where it stopped" in err


def test_the_token_is_never_in_the_output(hub, cache):
    """Success with progress and retries, and a refusal: the token in HF_TOKEN shows up in neither."""
    hub.faults.burst(1, status=503, match=model_api)
    hub.faults.slow(bytes_per_s=1 * MIB, match=file_downloads())
    ok = spawn(hub, cache, "acme/gated", "--progress-seconds", "0.01", "--backoff-seconds", "0.01",
               token=ALLOWED_TOKEN)
    ok_out, ok_err = ok.communicate(timeout=60)
    refused = spawn(hub, cache, "acme/gated", token=WRONG_TOKEN)
    refused_out, refused_err = refused.communicate(timeout=60)
    assert (ok.returncode, refused.returncode) == (0, 77)
    assert "MB/s" in ok_out and "retrying in" in ok_out and "HTTP 403" in refused_err
    assert {r.token for r in hub.requests if "gated" in r.path} == {ALLOWED_TOKEN, WRONG_TOKEN}
    for output in (ok_out, ok_err, refused_out, refused_err):
        assert ALLOWED_TOKEN not in output and WRONG_TOKEN not in output
        assert "s3cret" not in output


# ---- hostile names and bytes: nothing leaves the repository's directory, nothing unverified is kept ----------


def victim_ref(cache: Path) -> Path:
    """Another repository's branch in the same shared cache, which a hostile pre-pull would overwrite."""
    ref = cache / "models--other--repo" / "refs" / "main"
    ref.parent.mkdir(parents=True)
    ref.write_text("a" * 40)
    return ref


def everything_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("revision", ["../../models--other--repo/refs/main", "../../../models--other--repo/refs/main",
                                      "/refs/main", "main/../../../models--other--repo/refs/main"])
def test_a_revision_that_leaves_the_repository_is_refused_before_anything_is_written(prepull, hub, cache, revision):
    ref = victim_ref(cache)
    before = everything_under(cache.parent)
    code, _, err = prepull("acme/mistral", revision=revision)
    assert code == 64
    assert "is not a branch, tag or 40-hex commit" in err and "fix spec.model.revision" in err
    assert ref.read_text() == "a" * 40
    assert everything_under(cache.parent) == before
    assert hub.requests == []


def test_a_ref_directory_that_links_outside_the_repository_is_refused(prepull, hub, cache):
    """The shape of the revision is fine; what is on disk would still take the write elsewhere."""
    ref = victim_ref(cache)
    storage = cache / "models--acme--mistral"
    storage.mkdir(parents=True)
    (storage / "refs").symlink_to(ref.parent)
    code, _, err = prepull("acme/mistral")
    assert code == 76
    assert "revision 'refs/main' leads outside the repository's directory" in err
    assert ref.read_text() == "a" * 40


def test_a_file_name_from_the_hub_that_leaves_the_repository_is_refused(prepull, hub, cache, repos):
    repos.add("acme/evil", {"config.json": "{}", "model.safetensors": SHARD_1, "../../../../evil.json": "{}"})
    code, _, err = prepull("acme/evil")
    assert code == 76
    assert "'snapshots/" in err and "/../../../../evil.json' would leave the repository's directory" in err
    assert not list(cache.parents[1].rglob("evil.json"))
    assert downloaded(hub) == []


def replace_in_answers(hub, change) -> None:
    served = hub.responder

    def changed(request):
        return change(request, served(request))

    hub.responder = changed


def test_a_commit_from_the_hub_that_is_not_a_commit_is_refused(prepull, hub, cache):
    def hostile_sha(request, response):
        if not model_api(request):
            return response
        body = json.dumps({**json.loads(response.body), "sha": "../../../models--other--repo"}).encode()
        return HubResponse(200, {**response.headers, "Content-Length": str(len(body))}, body)

    replace_in_answers(hub, hostile_sha)
    code, _, err = prepull("acme/mistral")
    assert code == 76
    assert "the Hub named commit '../../../models--other--repo', which is not a 40-hex commit" in err
    assert downloaded(hub) == []


def test_an_etag_that_is_not_a_content_hash_is_refused(prepull, hub, cache):
    def hostile_etag(request, response):
        if "/resolve/" not in request.path or "config.json" not in request.path:
            return response
        return HubResponse(response.status, {**response.headers, "ETag": '"../../../../evil"'}, response.body)

    replace_in_answers(hub, hostile_etag)
    code, _, err = prepull("acme/mistral")
    assert code == 76
    assert "the Hub gave config.json the etag '../../../../evil', which is not a sha1 or sha256" in err
    assert not list(cache.parents[1].rglob("evil"))


@pytest.mark.parametrize(("model", "path", "kind"), [("acme/big", "model.safetensors", "LFS, sha256"),
                                                      ("acme/mistral", "config.json", "git blob sha1")])
def test_bytes_that_do_not_hash_to_the_hubs_etag_are_not_kept(prepull, hub, cache, repos, model, path, kind):
    """A mirror that changes a file in transit (same size): the blob never lands, the pod does not start."""
    def tampered(request, response):
        if request.method != "GET" or not file_downloads(path)(request) or not response.body:
            return response
        return HubResponse(response.status, response.headers, bytes(reversed(response.body)))

    replace_in_answers(hub, tampered)
    code, _, err = prepull(model)
    assert code == 76, kind
    assert f"{path}: the downloaded bytes hash to " in err and "the file was discarded" in err
    repo = repos.get(model)
    etag = repo.commits[repo.resolve("main")][path].etag
    assert not [p for p in blobs(cache, model).iterdir() if p.name.startswith(etag)]  # neither blob nor partial
    assert not (cache / f"models--{model.replace('/', '--')}" / "refs" / "main").exists()


# ---- a Hub that echoes the token in its errors ------------------------------------------------------------


def echo_authorization(status: int):
    def respond(request) -> HubResponse:
        said = f"refused; you sent authorization: {request.headers.get('authorization')}"
        body = json.dumps({"error": said}).encode()
        return HubResponse(status, {"X-Error-Message": said, "Content-Type": "application/json",
                                    "Content-Length": str(len(body))}, body)
    return respond


@pytest.mark.parametrize(("status", "code", "words"), [
    (401, 77, "the Hub does not accept the token in HF_TOKEN (HTTP 401"),
    (500, 69, "the Hub kept failing while reading the repository's file list"),
    (400, 1, "error: prepull acme/mistral@main: unexpected"),
])
def test_a_hub_that_echoes_the_token_never_gets_it_printed(hub, cache, status, code, words):
    """Run as the kubelet runs it: stdout, stderr and any traceback, with retries logged on the way."""
    hub.responder = echo_authorization(status)
    run = spawn(hub, cache, "acme/mistral", "--attempts", "2", "--backoff-seconds", "0.01", token=ALLOWED_TOKEN)
    out, err = run.communicate(timeout=60)
    assert run.returncode == code, out + err
    assert words in out + err
    assert any(r.token == ALLOWED_TOKEN for r in hub.requests)  # the Hub got it, and said it back
    assert ALLOWED_TOKEN not in out + err and "s3cret" not in out + err
    if status == 400:  # the traceback carries the Hub's message: there, redacted
        assert "refused; you sent authorization: <redacted>" in err
