"""``modelfleet prepull``: the model's files into the hub cache before the engine starts.

The steps, under one lock per repo on the cache volume:

1. Resolve the revision to a commit and list the repo's files with their
   sizes (``HfApi.model_info(files_metadata=True)``).
2. Choose the files the engine loads (``hub_files``): the engine's patterns,
   then one weights format and layout, reading the weight index if any.
3. Fetch each file into ``blobs/<etag>``, resuming what an earlier run left
   (``fetch``), several at a time, with a progress line every few seconds.
4. ``snapshot_download`` of exactly those files at the commit: the Hub
   client lays out ``snapshots/<commit>/`` (it finds the blobs in place and
   only links them). Its tree listing of the whole repo is then removed:
   offline, the client holds a snapshot against that listing and calls it
   incomplete when a file the engine never loads (a ``consolidated``
   copy) is missing, which would stop vLLM's weight lookup.
5. Check every file's size against the Hub's listing.
6. Write ``refs/<revision>`` -> commit, last (for a pinned commit too: TGI's
   router finds files only through a ref). It is the marker that the
   cache is complete: an engine with ``HF_HUB_OFFLINE=1`` resolves the
   revision through it, so it never sees a half-filled snapshot.

The lock (``<cache>/.locks/<repo folder>/modelfleet-prepull.lock``, an
``flock(2)`` through ``filelock``) makes replicas that share a volume
download once: the first pulls, the others wait (logging that they do),
then find every file in place and finish at once. The kernel drops the lock
when its holder dies, so a killed pre-pull never leaves a stale lock on a
local disk or a block volume. On NFS, Linux maps ``flock`` to NFS byte-range
locks, which other clients see (NFSv4, or NFSv3 with the lock manager); a
dead holder's lock goes when its lease expires (NFSv4, about 90 s). A mount
with ``nolock``/``local_lock`` keeps locks on one node: replicas on several
nodes then download side by side, which costs bandwidth but stays correct
(each writes its own partial files, see ``fetch``).

When the Hub cannot be reached after every retry, a snapshot an earlier run
completed for the same revision is used, so a restarting replica does not
depend on the Hub being up.
"""

from __future__ import annotations

import functools
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import filelock
from huggingface_hub import HfApi, snapshot_download
from huggingface_hub.file_download import repo_folder_name
from huggingface_hub.utils import disable_progress_bars

from modelfleet.api.runtime_args import PrepullArgs

from .errors import HubUnavailable, PrepullError, SizeMismatch, classify, disk_full, is_disk_full
from .fetch import BlobDownload, Remote, is_complete, remote_file
from .hub_files import RepoFile, exact_patterns, index_to_read, matching, select_files, shard_names
from .paths import COMMIT, check_commit, check_revision, inside
from .progress import Progress, Reporter, size_text
from .retry import Backoff, with_retries

T = TypeVar("T")
Log = Callable[[str], None]
LOCK_LOG_INTERVAL_S = 30.0


@dataclass(frozen=True)
class PrepullRequest:
    """One pre-pull: its command line as the renderer wrote it, and the Hub the pod reaches (its environment)."""

    args: PrepullArgs
    endpoint: str
    token: str | None = None

    @property
    def storage(self) -> Path:
        """The repository's directory in the hub cache: ``<cache_dir>/models--<owner>--<name>/``."""
        return self.args.cache_dir / repo_folder_name(repo_id=self.args.model_id, repo_type="model")

    @property
    def backoff(self) -> Backoff:
        return Backoff(attempts=self.args.attempts, first_delay_s=self.args.backoff_seconds)


@dataclass(frozen=True)
class PrepullResult:
    commit: str
    snapshot: Path  # snapshots/<commit>/
    files: tuple[RepoFile, ...]


def prepull(request: PrepullRequest, log: Log) -> PrepullResult:
    """Pull the files the engine loads; raises ``PrepullError`` with the cause a user can act on."""
    disable_progress_bars()  # tqdm bars are unreadable in kubectl logs; we log lines instead
    # Before anything touches the shared cache: refs/<revision> must stay in this repo's directory.
    check_revision(request.storage, request.args.revision)
    try:
        with repo_lock(request, log):
            return _pull_or_reuse(request, log)
    except PrepullError:
        raise
    except Exception as exc:
        known = classify(exc, token_given=request.token is not None, endpoint=request.endpoint)
        if known is None and is_disk_full(exc):
            known = disk_full(str(request.args.cache_dir), _free_bytes(request.args.cache_dir))
        if known is None:
            raise
        raise known from exc


def _pull_or_reuse(request: PrepullRequest, log: Log) -> PrepullResult:
    try:
        return _pull(request, log)
    except HubUnavailable:
        earlier = earlier_pull(request)
        if earlier is None:
            raise
        log(f"the Hub is unreachable; using commit {earlier.commit}, which an earlier pre-pull completed")
        write_ref(request, earlier.commit)  # a pinned commit pulled before refs/<commit> was written
        return earlier


@contextmanager
def repo_lock(request: PrepullRequest, log: Log) -> Iterator[None]:
    path = request.args.cache_dir / ".locks" / request.storage.name / "modelfleet-prepull.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(path))
    waited = 0.0
    timeout = 0.0  # the first try does not wait, so a waiting replica says so at once
    while True:
        try:
            lock.acquire(timeout=timeout)
            break
        except filelock.Timeout:
            log(f"waiting for another pre-pull of this model on the same cache ({waited:.0f} s so far; lock {path})")
            waited += timeout
            timeout = LOCK_LOG_INTERVAL_S
    try:
        yield
    finally:
        lock.release()


def _pull(request: PrepullRequest, log: Log) -> PrepullResult:
    commit, listed = _retry(request, log, "reading the repository's file list", lambda: resolve(request))
    log(f"revision {request.args.revision} is commit {commit}; {len(listed)} files in the repository")

    @functools.cache
    def remote(path: str) -> Remote:
        return _retry(request, log, f"asking the Hub about {path}", lambda: remote_file(
            request.args.model_id, path, commit, listed[path], request.token, request.endpoint, request.storage))

    selected = choose_files(request, log, listed, remote)
    fetched = fetch_files(request, log, [remote(path) for path in selected])
    snapshot = link_snapshot(request, log, commit, selected)
    files = tuple(RepoFile(path, listed[path]) for path in selected)
    verify_sizes(snapshot, files)
    write_ref(request, commit)
    log(f"done: {len(files)} files, {size_text(sum(f.size for f in files))} in {snapshot}; "
        f"{size_text(fetched)} fetched by this run")
    return PrepullResult(commit, snapshot, files)


def resolve(request: PrepullRequest) -> tuple[str, dict[str, int]]:
    """The commit the revision names, and the size of every file of the repo at that commit."""
    api = HfApi(endpoint=request.endpoint, token=request.token or False)
    info = api.model_info(request.args.model_id, revision=request.args.revision, files_metadata=True)
    if info.sha is None or info.siblings is None:
        raise PrepullError(f"{request.args.model_id}: the Hub's answer names no commit or no files")
    commit = check_commit(request.storage, info.sha)
    sizes: dict[str, int] = {}
    for sibling in info.siblings:
        # Against the repo's directory, not the snapshot's: a file already linked resolves into blobs/.
        inside(request.storage, f"snapshots/{commit}/{sibling.rfilename}", "the Hub's file")
        if sibling.size is None:
            raise PrepullError(f"{request.args.model_id}: the Hub gives no size for {sibling.rfilename}")
        sizes[sibling.rfilename] = sibling.size
    return commit, sizes


def choose_files(
    request: PrepullRequest, log: Log, listed: dict[str, int], remote: Callable[[str], Remote]
) -> list[str]:
    """The files the engine loads; fetches the weight index first when the choice depends on it."""
    matched = matching(listed, request.args.include)
    index = index_to_read(matched)
    shards = None
    if index is not None:
        fetch_files(request, log, [remote(index)], quiet=True)
        shards = shard_names((request.storage / "blobs" / remote(index).etag).read_text())
    selected = select_files(request.args.include, matched, shards)
    skipped = sorted(set(matched) - set(selected))
    if skipped:
        log(f"skipping {', '.join(skipped)}: the engine does not load them (another weights format or layout)")
    return selected


def fetch_files(request: PrepullRequest, log: Log, files: list[Remote], quiet: bool = False) -> int:
    """Fetch the files into the blob store, several at a time; returns the bytes received."""
    blobs = request.storage / "blobs"
    blobs.mkdir(parents=True, exist_ok=True)
    remotes = list({r.etag: r for r in files}.values())  # files with the same content share one blob
    total = sum(r.size for r in remotes)
    present = sum(r.size for r in remotes if is_complete(blobs, r))
    progress = Progress(total, present)
    if not quiet:
        log(f"{len(files)} files, {size_text(total)}; {size_text(present)} of it already in the cache")
    stop = threading.Event()
    try:
        with Reporter(progress, request.args.progress_seconds, log), ThreadPoolExecutor(request.args.workers) as pool:
            downloads = [BlobDownload(remote, blobs, progress, stop) for remote in remotes]
            futures = [pool.submit(_fetch_one, request, log, download) for download in downloads]
            try:
                for future in as_completed(futures):
                    future.result()
            except BaseException:
                stop.set()  # the other downloads stop at their next chunk
                raise
    except Exception as exc:
        if is_disk_full(exc):
            raise disk_full(str(request.args.cache_dir), _free_bytes(request.args.cache_dir), total,
                            progress.snapshot().done) from exc
        raise
    return progress.snapshot().fetched


def _fetch_one(request: PrepullRequest, log: Log, download: BlobDownload) -> Path:
    return with_retries(
        download.run, what=f"fetching {download.remote.path}", backoff=request.backoff, log=log,
        progress=lambda: download.received,
    )


def link_snapshot(request: PrepullRequest, log: Log, commit: str, selected: list[str]) -> Path:
    """``snapshots/<commit>/`` as the Hub client lays it out, linking the blobs already in place."""
    folder = _retry(request, log, "linking the snapshot", lambda: snapshot_download(
        request.args.model_id, revision=commit, cache_dir=request.args.cache_dir,
        allow_patterns=exact_patterns(selected),
        token=request.token or False, endpoint=request.endpoint, max_workers=request.args.workers,
    ))
    (request.storage / "trees" / f"{commit}.json").unlink(missing_ok=True)
    return Path(folder)


def verify_sizes(snapshot: Path, files: tuple[RepoFile, ...]) -> None:
    wrong = []
    for file in files:
        path = snapshot / file.path
        size = path.stat().st_size if path.exists() else None
        if size != file.size:
            wrong.append(f"{file.path} is {'missing' if size is None else f'{size} bytes'}, the Hub lists {file.size}")
    if wrong:
        raise SizeMismatch("files in the cache differ from the Hub's listing: " + "; ".join(wrong))


def write_ref(request: PrepullRequest, commit: str) -> None:
    """``refs/<revision>`` -> commit, atomically: the last step, the marker of a complete cache.

    A pinned commit gets its ref too, ``refs/<commit>`` holding the commit itself. huggingface_hub
    (Python: vLLM, TGI's server) finds ``snapshots/<commit>/`` without one, but TGI's router reads the
    cache through the Rust ``hf-hub`` crate (0.4.2, ``src/lib.rs`` ``CacheRepo::get``), which only
    follows ``refs/<revision>``: without the file every lookup comes back empty, and offline the
    router starts with no tokenizer config, so ``/v1/chat/completions`` answers 422 "Template error:
    template not found". huggingface_hub reads such a ref the same way (``file_download``
    ``try_to_load_from_cache``: ``refs/<revision>`` when it exists, else the revision as the commit).
    """
    ref = inside(request.storage, f"refs/{request.args.revision}", "revision")
    ref.parent.mkdir(parents=True, exist_ok=True)
    temporary = ref.with_name(f".{ref.name}.modelfleet-tmp")
    temporary.write_text(commit)
    os.replace(temporary, ref)


def earlier_pull(request: PrepullRequest) -> PrepullResult | None:
    """The snapshot of the revision an earlier pre-pull completed, if the files the engine loads are all in it.

    A branch's snapshot counts only through ``refs/<branch>``, which is written
    after everything else; a pinned commit's through the weights its index
    names (or the one weights file) being in place.
    """
    commit = _cached_commit(request)
    if commit is None or not (request.storage / "snapshots" / commit).is_dir():
        return None
    snapshot = request.storage / "snapshots" / commit
    local = {str(p.relative_to(snapshot)): p.stat().st_size for p in snapshot.rglob("*") if p.is_file()}
    matched = matching(local, request.args.include)
    index = index_to_read(matched)
    try:
        shards = shard_names((snapshot / index).read_text()) if index else None
        selected = select_files(request.args.include, matched, shards)
    except PrepullError:
        return None
    return PrepullResult(commit, snapshot, tuple(RepoFile(p, local[p]) for p in selected))


def _cached_commit(request: PrepullRequest) -> str | None:
    if COMMIT.fullmatch(request.args.revision):
        return request.args.revision
    ref = inside(request.storage, f"refs/{request.args.revision}", "revision")
    commit = ref.read_text().strip() if ref.is_file() else ""
    return commit if COMMIT.fullmatch(commit) else None


def _retry(request: PrepullRequest, log: Log, what: str, operation: Callable[[], T]) -> T:
    return with_retries(operation, what=what, backoff=request.backoff, log=log)


def _free_bytes(path: Path) -> int:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return shutil.disk_usage(candidate).free
    return 0

