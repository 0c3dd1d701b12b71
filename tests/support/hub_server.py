"""A local server that speaks the part of the Hugging Face Hub's HTTP API that huggingface-hub uses.

The real Hub is unreachable from tests, and the code under test must meet the
real client: ``hf_hub_download``, ``snapshot_download`` and ``HfApi`` pointed
here with ``endpoint=server.url`` (or ``HF_ENDPOINT`` set before
huggingface_hub is imported; the library reads it once, at import).

What it serves, with the headers and error codes huggingface-hub 2.x reads
(``file_download.get_hf_file_metadata``, ``utils._http.hf_raise_for_status``):

- ``HEAD``/``GET /{repo}/resolve/{revision}/{path}``: ``X-Repo-Commit``,
  ``ETag`` (git blob sha1, or sha256 for LFS files, which also get
  ``X-Linked-Etag`` and ``X-Linked-Size``), ``Content-Length``,
  ``Accept-Ranges`` and ``Range`` requests (206 with ``Content-Range``, 416).
- ``GET /api/models/{repo}`` and ``/api/models/{repo}/revision/{revision}``:
  ``sha`` and ``siblings`` with sizes, blob ids and LFS info.
- ``GET /api/models/{repo}/tree/{revision}[/{path}]``: the file listing
  ``snapshot_download`` walks (``recursive`` honoured, one page).
- Errors as the Hub sends them: ``X-Error-Code`` RepoNotFound (404),
  RevisionNotFound (404), EntryNotFound (404, with ``X-Repo-Commit``), and
  GatedRepo: 401 without a token, 403 with a token the repo does not allow.

Routing is a pure function, ``respond(repos, request) -> HubResponse``, and
``HubServer.responder`` is the one place a request turns into a response, so
a test can wrap it to change what the Hub says.

Faults in how the answer travels are armed on ``HubServer.faults`` (see
``Faults``): bursts of 5xx, slow responses (a delay before the status line, a
throttled body) and a connection cut in the middle of a file. ``served``
records what went back on the wire (status and body bytes, a cut body
counted as far as it got), so a test can tell what a client fetched.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

# Files at least this big are stored as LFS objects, as the Hub does for weights.
LFS_THRESHOLD = 10 * 1024 * 1024
LFS_POINTER_SIZE = 134
COMMIT_PATTERN = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class HubFile:
    content: bytes
    lfs: bool

    @property
    def size(self) -> int:
        return len(self.content)

    @property
    def blob_id(self) -> str:
        """The git blob sha1, what the Hub calls the file's oid."""
        return hashlib.sha1(b"blob %d\0" % self.size + self.content).hexdigest()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def etag(self) -> str:
        return self.sha256 if self.lfs else self.blob_id


@dataclass
class HubRepo:
    repo_id: str
    commits: dict[str, dict[str, HubFile]] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)
    gated: bool = False
    allowed_tokens: frozenset[str] = frozenset()

    def resolve(self, revision: str) -> str | None:
        """The commit a branch, tag or commit sha names; None when the repo has no such revision."""
        if revision in self.refs:
            return self.refs[revision]
        return revision if revision in self.commits else None


class HubRepos:
    """The Hub's content: repositories, their commits and branches, who may read gated ones."""

    def __init__(self) -> None:
        self._repos: dict[str, HubRepo] = {}
        self._lock = threading.Lock()

    def add(
        self,
        repo_id: str,
        files: Mapping[str, bytes | str],
        *,
        revision: str = "main",
        gated: bool = False,
        allowed_tokens: tuple[str, ...] = (),
    ) -> str:
        """Commit ``files`` to ``repo_id`` on branch ``revision``; returns the commit sha.

        Adding to an existing repo makes a new commit and moves the branch; older
        commits stay readable by their sha, as on the Hub.
        """
        stored = {
            path: HubFile(data, lfs=len(data) >= LFS_THRESHOLD)
            for path, data in ((p, c.encode() if isinstance(c, str) else c) for p, c in files.items())
        }
        commit = _commit_sha(repo_id, revision, stored)
        with self._lock:
            repo = self._repos.setdefault(repo_id, HubRepo(repo_id))
            repo.commits[commit] = stored
            repo.refs[revision] = commit
            repo.gated = repo.gated or gated
            repo.allowed_tokens = repo.allowed_tokens | frozenset(allowed_tokens)
        return commit

    @classmethod
    def from_directory(cls, root: Path, **options) -> HubRepos:
        """One repo per ``<owner>/<name>/`` directory under ``root``, its files on ``main``."""
        repos = cls()
        for repo_dir in sorted(p for p in root.glob("*/*") if p.is_dir()):
            files = {str(f.relative_to(repo_dir)): f.read_bytes() for f in repo_dir.rglob("*") if f.is_file()}
            repos.add(str(repo_dir.relative_to(root)), files, **options)
        return repos

    def get(self, repo_id: str) -> HubRepo | None:
        with self._lock:
            return self._repos.get(repo_id)


def _commit_sha(repo_id: str, revision: str, files: dict[str, HubFile]) -> str:
    listing = "\n".join(f"{path} {f.blob_id}" for path, f in sorted(files.items()))
    return hashlib.sha1(f"{repo_id}\n{revision}\n{listing}".encode()).hexdigest()


@dataclass(frozen=True)
class HubRequest:
    method: str
    path: str  # raw, percent-encoded, without the query
    query: dict[str, list[str]]
    headers: Mapping[str, str]  # names in lower case

    @property
    def token(self) -> str | None:
        value = self.headers.get("authorization", "")
        return value[len("Bearer "):] if value.startswith("Bearer ") else None


@dataclass(frozen=True)
class HubResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    # How the response travels (``Faults`` sets these): a wait before the
    # status line, a body sent at this rate, a body cut after this many bytes.
    delay_s: float = 0.0
    bytes_per_s: float | None = None
    cut_after: int | None = None


@dataclass(frozen=True)
class Served:
    """One response as it went out: its status and the body bytes written before it ended."""

    request: HubRequest
    status: int
    body_bytes: int


def respond(repos: HubRepos, request: HubRequest) -> HubResponse:
    """What the Hub answers to ``request``."""
    parts = [unquote(p) for p in request.path.strip("/").split("/")]
    if parts[:2] == ["api", "models"]:
        return _api(repos, request, parts[2:])
    if "resolve" in parts[1:3]:
        split = parts.index("resolve", 1)
        return _resolve(repos, request, "/".join(parts[:split]), parts[split + 1:])
    return _error(404, "NotFound", f"no route for {request.path}")


def _api(repos: HubRepos, request: HubRequest, parts: list[str]) -> HubResponse:
    repo, rest = _find_repo(repos, parts)
    if repo is None:
        return _repo_not_found("/".join(parts))
    if denied := _access_denied(repo, request):
        return denied
    if not rest:
        return _model_info(repo, "main")
    if rest[0] == "revision" and len(rest) == 2:
        return _model_info(repo, rest[1])
    if rest[0] == "tree" and len(rest) >= 2:
        recursive = request.query.get("recursive", ["false"])[0].lower() == "true"
        return _tree(repo, rest[1], "/".join(rest[2:]), recursive)
    return _error(404, "NotFound", f"no API route for {request.path}")


def _find_repo(repos: HubRepos, parts: list[str]) -> tuple[HubRepo | None, list[str]]:
    """Repo ids are ``owner/name`` or a bare ``name``; try the longer one first."""
    for length in (2, 1):
        repo = repos.get("/".join(parts[:length])) if len(parts) >= length else None
        if repo is not None:
            return repo, parts[length:]
    return None, []


def _model_info(repo: HubRepo, revision: str) -> HubResponse:
    commit = repo.resolve(revision)
    if commit is None:
        return _revision_not_found(repo, revision)
    siblings = [
        {"rfilename": path, "size": f.size, "blobId": f.blob_id}
        | ({"lfs": {"sha256": f.sha256, "size": f.size, "pointerSize": LFS_POINTER_SIZE}} if f.lfs else {})
        for path, f in sorted(repo.commits[commit].items())
    ]
    info = {
        "_id": commit[:24],
        "id": repo.repo_id,
        "modelId": repo.repo_id,
        "sha": commit,
        "private": False,
        "gated": "manual" if repo.gated else False,
        "disabled": False,
        "siblings": siblings,
    }
    return _json(info)


def _tree(repo: HubRepo, revision: str, folder: str, recursive: bool) -> HubResponse:
    commit = repo.resolve(revision)
    if commit is None:
        return _revision_not_found(repo, revision)
    prefix = f"{folder}/" if folder else ""
    entries: dict[str, dict] = {}
    for path, f in sorted(repo.commits[commit].items()):
        if not path.startswith(prefix):
            continue
        below = path[len(prefix):].split("/")
        if len(below) > 1 and not recursive:
            directory = prefix + below[0]
            entries[directory] = {"type": "directory", "oid": _dir_oid(directory), "size": 0, "path": directory}
            continue
        for depth in range(1, len(below)):
            directory = prefix + "/".join(below[:depth])
            entries[directory] = {"type": "directory", "oid": _dir_oid(directory), "size": 0, "path": directory}
        entries[path] = {"type": "file", "oid": f.blob_id, "size": f.size, "path": path} | (
            {"lfs": {"oid": f.sha256, "size": f.size, "pointerSize": LFS_POINTER_SIZE}} if f.lfs else {}
        )
    if folder and not entries:
        return _error(404, "EntryNotFound", f"{folder} does not exist at {commit}", commit)
    return _json(list(entries.values()))


def _dir_oid(path: str) -> str:
    return hashlib.sha1(path.encode()).hexdigest()


def _resolve(repos: HubRepos, request: HubRequest, repo_id: str, rest: list[str]) -> HubResponse:
    repo = repos.get(repo_id)
    if repo is None:
        return _repo_not_found(repo_id)
    if denied := _access_denied(repo, request):
        return denied
    if len(rest) < 2:
        return _error(404, "EntryNotFound", "no file named")
    commit = repo.resolve(rest[0])
    if commit is None:
        return _revision_not_found(repo, rest[0])
    path = "/".join(rest[1:])
    stored = repo.commits[commit].get(path)
    if stored is None:
        return _error(404, "EntryNotFound", f"{path} does not exist at {commit}", commit)
    return _file(stored, commit, request)


def _file(stored: HubFile, commit: str, request: HubRequest) -> HubResponse:
    headers = {
        "X-Repo-Commit": commit,
        "ETag": f'"{stored.etag}"',
        "Accept-Ranges": "bytes",
        "Content-Type": "application/octet-stream",
    }
    if stored.lfs:
        headers |= {"X-Linked-Etag": f'"{stored.sha256}"', "X-Linked-Size": str(stored.size)}
    byte_range = request.headers.get("range")
    if byte_range is None:
        body = stored.content if request.method == "GET" else b""
        return HubResponse(200, headers | {"Content-Length": str(stored.size)}, body)
    span = _parse_range(byte_range, stored.size)
    if span is None:
        return HubResponse(416, headers | {"Content-Range": f"bytes */{stored.size}", "Content-Length": "0"})
    start, end = span
    part = stored.content[start:end + 1]
    headers |= {"Content-Range": f"bytes {start}-{end}/{stored.size}", "Content-Length": str(len(part))}
    return HubResponse(206, headers, part if request.method == "GET" else b"")


def _parse_range(value: str, size: int) -> tuple[int, int] | None:
    """``bytes=START-[END]`` or ``bytes=-SUFFIX``, clamped to the file; None when unsatisfiable."""
    match = re.fullmatch(r"bytes=(\d*)-(\d*)", value.strip())
    if not match or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":
        start, end = max(size - int(last), 0), size - 1
    else:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    return (start, end) if start <= end and start < size else None


def _access_denied(repo: HubRepo, request: HubRequest) -> HubResponse | None:
    if not repo.gated:
        return None
    if request.token is None:
        return _error(
            401, "GatedRepo",
            f"Access to model {repo.repo_id} is restricted. You must have access to it and be authenticated "
            "to access it. Please log in.",
        )
    if request.token not in repo.allowed_tokens:
        return _error(
            403, "GatedRepo",
            f"Access to model {repo.repo_id} is restricted and you are not in the authorized list. "
            f"Visit https://huggingface.co/{repo.repo_id} to ask for access.",
        )
    return None


def _repo_not_found(repo_id: str) -> HubResponse:
    return _error(404, "RepoNotFound", f"Repository not found: {repo_id}")


def _revision_not_found(repo: HubRepo, revision: str) -> HubResponse:
    return _error(404, "RevisionNotFound", f"Invalid rev id: {revision}")


def _error(status: int, code: str, message: str, commit: str | None = None) -> HubResponse:
    body = json.dumps({"error": message}).encode()
    headers = {
        "X-Error-Code": code,
        "X-Error-Message": message,
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
    }
    if commit is not None:
        headers["X-Repo-Commit"] = commit
    return HubResponse(status, headers, body)


def _json(value: object) -> HubResponse:
    body = json.dumps(value).encode()
    return HubResponse(200, {"Content-Type": "application/json", "Content-Length": str(len(body))}, body)


Match = Callable[[HubRequest], bool]


def any_request(request: HubRequest) -> bool:
    return True


def file_downloads(path: str | None = None) -> Match:
    """GETs of ``/{repo}/resolve/{revision}/{file}`` (of ``path`` only, when given)."""

    def match(request: HubRequest) -> bool:
        if request.method != "GET" or "/resolve/" not in request.path:
            return False
        return path is None or unquote(request.path).endswith("/" + path)

    return match


def api_calls(request: HubRequest) -> bool:
    return request.path.startswith("/api/")


@dataclass
class _Fault:
    match: Match
    remaining: int | None  # None: until cleared
    change: Callable[[HubResponse], HubResponse]


class Faults:
    """Faults a test arms on a running server, each for the requests its ``match`` selects.

    Faults apply in the order they were armed; one that runs out (``count``)
    stops applying. ``clear()`` disarms them all.
    """

    def __init__(self) -> None:
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()

    def burst(self, count: int, status: int = 503, match: Match = any_request) -> None:
        """The next ``count`` matching requests fail with ``status``, as an overloaded Hub or CDN answers."""
        body = json.dumps({"error": f"injected {status}"}).encode()
        failure = HubResponse(status, {"Content-Type": "application/json", "Content-Length": str(len(body))}, body)
        self._arm(match, count, lambda response: failure)

    def slow(self, *, delay_s: float = 0.0, bytes_per_s: float | None = None, match: Match = any_request,
             count: int | None = None) -> None:
        """Matching responses wait ``delay_s`` before the status line and send their body at ``bytes_per_s``."""
        self._arm(match, count, lambda response: replace(response, delay_s=delay_s, bytes_per_s=bytes_per_s))

    def cut(self, after_bytes: int, count: int = 1, match: Match | None = None) -> None:
        """The next ``count`` matching file bodies stop after ``after_bytes``; the connection closes.

        Without ``match``, any file download matches.
        """
        self._arm(match or file_downloads(), count, lambda response: replace(response, cut_after=after_bytes))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def apply(self, request: HubRequest, response: HubResponse) -> HubResponse:
        with self._lock:
            for fault in self._faults:
                if fault.remaining != 0 and fault.match(request):
                    response = fault.change(response)
                    if fault.remaining is not None:
                        fault.remaining -= 1
        return response

    def _arm(self, match: Match, count: int | None, change: Callable[[HubResponse], HubResponse]) -> None:
        with self._lock:
            self._faults.append(_Fault(match, count, change))


class HubServer:
    """The Hub on ``host`` (default ``127.0.0.1``) at ``port`` (default: a free one), served from a thread.

    ``requests`` records every request (for assertions about what the client
    sent); ``responder`` turns a request into a response and may be replaced
    by a wrapper; ``faults`` changes how responses travel; ``served`` records
    what went back.
    """

    def __init__(self, repos: HubRepos, host: str = "127.0.0.1", port: int = 0) -> None:
        self.repos = repos
        self.requests: list[HubRequest] = []
        self.served: list[Served] = []
        self.faults = Faults()
        self.responder: Callable[[HubRequest], HubResponse] = lambda request: respond(self.repos, request)
        self._httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="hub-server", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HubServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() waits for serve_forever, which never ran otherwise
            self._httpd.shutdown()
            self._thread.join(timeout=10)
        self._httpd.server_close()

    def body_bytes(self, match: Match = any_request) -> int:
        """Body bytes the server sent in answer to matching requests."""
        return sum(s.body_bytes for s in list(self.served) if match(s.request))

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _handler_for(server: HubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive and ranges, as the client expects

        def do_GET(self) -> None:
            self._serve("GET")

        def do_HEAD(self) -> None:
            self._serve("HEAD")

        def _serve(self, method: str) -> None:
            url = urlsplit(self.path)
            request = HubRequest(method, url.path, parse_qs(url.query), {k.lower(): v for k, v in self.headers.items()})
            server.requests.append(request)
            response = server.faults.apply(request, server.responder(request))
            time.sleep(response.delay_s)
            sent = 0
            try:
                self.send_response(response.status)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if method == "GET" and response.body:
                    sent = self._send_body(response)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client went away (killed, or gave up)
            finally:
                server.served.append(Served(request, response.status, sent))

        def _send_body(self, response: HubResponse) -> int:
            """Write the body, throttled and cut as the response says; returns the bytes written."""
            end = len(response.body) if response.cut_after is None else min(response.cut_after, len(response.body))
            chunk = 64 * 1024 if response.bytes_per_s is None else max(1, int(response.bytes_per_s / 20))
            sent = 0
            while sent < end:
                piece = response.body[sent:min(sent + chunk, end)]
                self.wfile.write(piece)
                self.wfile.flush()
                sent += len(piece)
                if response.bytes_per_s:
                    time.sleep(len(piece) / response.bytes_per_s)
            if response.cut_after is not None:
                self.close_connection = True  # the rest of Content-Length never comes
            return sent

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: tests read ``server.requests`` instead of a log."""

    return Handler
