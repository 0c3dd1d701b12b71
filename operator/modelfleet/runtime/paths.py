"""Every path the pre-pull writes or reads stays inside its repository's directory.

The cache is shared: in nodeLocal mode one directory on the node holds every
tenant's models (``<cache>/models--<owner>--<name>/``). Names that come from
outside (the revision on the command line, and from the Hub: file names, the
commit, each file's etag, which names its blob) are joined into it, by us
and by huggingface_hub, which joins the revision into ``refs/`` unchecked
(``file_download._cache_commit_hash_for_specific_revision``). A revision such
as ``../../models--other--repo/refs/main`` or a file name with ``..`` would
write into another repository. Each name is checked twice: for its shape
(the Hub's own rules: ``api.spec.REVISION_PATTERN``, huggingface_hub's
``REGEX_COMMIT_HASH`` and the relative-name rule of
``_local_folder._validate_relative_filename``), and, after resolving what is
already on disk (symlinks included), for landing inside the repository's
directory.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from modelfleet.api.spec import REVISION_LOCK_SUFFIX, REVISION_PATTERN

from .errors import BadRevision, UnsafeName

COMMIT = re.compile(r"[0-9a-f]{40}")
# What the Hub's ETag for a file is: the git blob sha1, or the sha256 of an LFS file's content.
CONTENT_HASH = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def inside(storage: Path, relative: str, what: str) -> Path:
    """``storage / relative``, refused with ``UnsafeName`` when it would leave ``storage``."""
    parts = PurePosixPath(relative.replace("\\", "/")).parts
    if not relative or relative.startswith(("/", "\\")) or ".." in parts or "\x00" in relative:
        raise UnsafeName(f"{what} {relative!r} would leave the repository's directory in the cache; refused")
    path = storage / relative
    if not path.resolve().is_relative_to(storage.resolve()):
        raise UnsafeName(f"{what} {relative!r} leads outside the repository's directory in the cache; refused")
    return path


def check_revision(storage: Path, revision: str) -> None:
    """The revision is a branch, tag or commit whose ref stays in the repository's ``refs/``."""
    if not re.fullmatch(REVISION_PATTERN, revision) or re.search(REVISION_LOCK_SUFFIX, revision):
        raise BadRevision(
            f"revision {revision!r} is not a branch, tag or 40-hex commit (letters, digits, '_', '+', '-', "
            "single '.' inside and '/' between names; no '..', no leading '/' or '-'); fix spec.model.revision"
        )
    inside(storage, f"refs/{revision}", "revision")


def check_commit(storage: Path, commit: str) -> str:
    if not COMMIT.fullmatch(commit):
        raise UnsafeName(f"the Hub named commit {commit!r}, which is not a 40-hex commit; refused")
    inside(storage, f"snapshots/{commit}", "commit")
    return commit


def check_etag(storage: Path, etag: str, path: str) -> str:
    """The blob name of ``path``: its etag, which must be a content hash (it is also how the file is verified)."""
    if not CONTENT_HASH.fullmatch(etag):
        raise UnsafeName(
            f"the Hub gave {path} the etag {etag!r}, which is not a sha1 or sha256 content hash; "
            "the pre-pull names and verifies blobs by it, so it refuses the file"
        )
    inside(storage, f"blobs/{etag}", f"blob of {path}")
    return etag
