"""Resumable downloads of a repo's files into the hub cache's blob store.

Why not leave the bytes to huggingface-hub: since 2.x it writes each
download to a temporary file unique to the process and deletes it when the
download fails, and a killed process leaves it behind for good. A replica
evicted 40 GB into a shard would start that shard over, and every kill would
leak a partial file on the volume. Here the partial file is named after the
blob (its etag, a hash of the content, so a partial can only ever continue
the same bytes), kept when a download fails, and continued with an HTTP
Range request by the next attempt, in this process or the next. The finished
blob lands where the Hub client looks for it (``blobs/<etag>``), so
``snapshot_download`` afterwards only links it into the snapshot.

A run claims a partial file by renaming it to a name of its own: even when
the volume's file locks do not work (NFS mounted ``nolock``) and two
pre-pulls run at once, no two ever append to the same file.

A finished file becomes the blob only when its bytes hash to the etag:
sha256 of the content for LFS files (the Hub's ``X-Linked-Etag``, which
``get_hf_file_metadata`` returns as the etag), git's blob sha1 (``"blob
<size>\0" + content``) for the others (``tests/support/hub_server.py``
serves both the way the Hub does). The pre-pull is the cache's only writer,
so a blob in place was verified when it was written.
"""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx2
from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url
from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

from .errors import ContentMismatch, PrepullError, SizeMismatch
from .paths import check_etag
from .progress import Progress
from .retry import ShortBody

PARTIAL_SUFFIX = ".modelfleet-partial"
CHUNK_BYTES = 1 << 20
# Unique per run, not per pid: every container's first process has pid 1.
RUN_ID = uuid.uuid4().hex[:12]


class Stopped(Exception):
    """Another file failed for good; this download stops at its next chunk."""


@dataclass(frozen=True)
class Remote:
    """Where one file's bytes come from and what they must add up to."""

    path: str
    url: str
    etag: str
    size: int
    headers: dict[str, str]


def remote_file(
    model_id: str, path: str, commit: str, size: int, token: str | None, endpoint: str, storage: Path
) -> Remote:
    """The file's blob name and download location, from the Hub's answer to a HEAD request.

    ``storage`` is the repository's directory in the cache: the blob name (the
    etag) must be a content hash that stays inside it.
    """
    url = hf_hub_url(model_id, path, revision=commit, endpoint=endpoint)
    metadata = get_hf_file_metadata(url, token=token or False, endpoint=endpoint)
    check_etag(storage, metadata.etag or "", path)
    if metadata.size is not None and metadata.size != size:
        raise SizeMismatch(f"{path}: the Hub lists {size} bytes but serves {metadata.size}")
    headers = build_hf_headers(token=token or False)
    if _origin(metadata.location) != _origin(url):
        headers.pop("authorization", None)  # a CDN's signed URL needs no token, and must not see it
    headers["Accept-Encoding"] = "identity"  # byte ranges count the stored bytes
    if metadata.etag is None:  # the Hub always sends one; it names the blob in the cache
        raise PrepullError(f"{path}: the Hub serves it without an ETag, so its blob has no name")
    return Remote(path, metadata.location, metadata.etag, size, headers)


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()


def is_complete(blobs_dir: Path, remote: Remote) -> bool:
    blob = blobs_dir / remote.etag
    return blob.is_file() and blob.stat().st_size == remote.size


class BlobDownload:
    """One file into ``blobs/<etag>``; ``run`` may be called again after a failure and resumes."""

    def __init__(self, remote: Remote, blobs_dir: Path, progress: Progress, stop: threading.Event) -> None:
        self.remote = remote
        self.blobs_dir = blobs_dir
        self.progress = progress
        self.stop = stop
        self.received = 0  # bytes this run received for the file, across attempts
        self.partial = blobs_dir / f"{remote.etag}.{RUN_ID}{PARTIAL_SUFFIX}"

    def run(self) -> Path:
        blob = self.blobs_dir / self.remote.etag
        if is_complete(self.blobs_dir, self.remote):
            return blob
        blob.unlink(missing_ok=True)  # a blob of the wrong size is not the file: fetch it again
        self._claim_partial()
        self._stream()
        self._check_size()
        self._check_content()
        os.replace(self.partial, blob)
        self._remove_stale_partials()
        return blob

    def _claim_partial(self) -> None:
        """Continue the longest partial an earlier run left, or start an empty one."""
        if self.partial.exists():
            return
        for candidate in sorted(self._partials(), key=_size, reverse=True):
            try:
                os.rename(candidate, self.partial)
            except FileNotFoundError:
                continue  # another run claimed it first
            self.progress.resumed(self.partial.stat().st_size)
            return
        self.partial.touch()

    def _stream(self) -> None:
        have = self.partial.stat().st_size
        if have > self.remote.size:
            self._start_over(have)  # not a prefix of this file, whatever it is
            have = 0
        if have == self.remote.size:
            return
        headers = dict(self.remote.headers)
        if have:
            headers["Range"] = f"bytes={have}-"
        timeout = httpx2.Timeout(constants.HF_HUB_DOWNLOAD_TIMEOUT)
        with get_session().stream("GET", self.remote.url, headers=headers, timeout=timeout) as response:
            hf_raise_for_status(response)
            if have and response.status_code == 200:
                self._start_over(have)  # the server ignored the range and sends the whole file
            with self.partial.open("ab") as out:
                for chunk in response.iter_bytes(CHUNK_BYTES):
                    if self.stop.is_set():
                        raise Stopped(self.remote.path)
                    out.write(chunk)
                    self.received += len(chunk)
                    self.progress.fetched(len(chunk))

    def _start_over(self, have: int) -> None:
        with self.partial.open("wb"):
            pass
        self.progress.discarded(have)

    def _check_size(self) -> None:
        size = self.partial.stat().st_size
        if size < self.remote.size:
            raise ShortBody(f"{self.remote.path}: the download ended at {size} of {self.remote.size} bytes")
        if size > self.remote.size:
            self.partial.unlink()
            raise SizeMismatch(f"{self.remote.path}: the Hub sent {size} bytes but lists {self.remote.size}")

    def _check_content(self) -> None:
        """The bytes hash to the etag, or the partial goes: the next attempt fetches the file anew."""
        digest = content_hash(self.partial, self.remote.etag)
        if digest != self.remote.etag:
            self.partial.unlink()
            raise ContentMismatch(
                f"{self.remote.path}: the downloaded bytes hash to {digest}, not to the Hub's {self.remote.etag}; "
                "the file was discarded (a proxy or mirror that changes files in transit, or a corrupt download)"
            )

    def _partials(self) -> list[Path]:
        return list(self.blobs_dir.glob(f"{self.remote.etag}.*{PARTIAL_SUFFIX}"))

    def _remove_stale_partials(self) -> None:
        for stale in self._partials():
            stale.unlink(missing_ok=True)


def content_hash(path: Path, etag: str) -> str:
    """The hash of the file that the Hub's etag of this kind is: sha256 (64 hex) or git's blob sha1 (40 hex)."""
    if len(etag) == 64:
        digest = hashlib.sha256()
    else:
        digest = hashlib.sha1(usedforsecurity=False)
        digest.update(b"blob %d\0" % path.stat().st_size)
    with path.open("rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return -1
