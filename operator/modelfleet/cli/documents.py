"""Reading the YAML a user hands to the CLI: files, directories or stdin."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from modelfleet.api import KIND, GPUPool


@dataclass(frozen=True)
class Document:
    source: str  # "FILE" or "FILE#N" when a file holds several documents
    body: Any


class UnreadableInput(ValueError):
    """A file that does not exist or is not YAML; the message says which."""


class BadInput(ValueError):
    """Input the command cannot use; the message names the file and what is wrong."""


def read_documents(paths: list[str]) -> list[Document]:
    documents: list[Document] = []
    for path in paths:
        for file in _expand(path):
            documents.extend(_read_file(file))
    return documents


def _expand(path: str) -> Iterator[str]:
    if path == "-":
        yield path
        return
    p = Path(path)
    if p.is_dir():
        yield from sorted(str(f) for f in p.iterdir() if f.suffix in (".yaml", ".yml"))
    elif p.exists():
        yield path
    else:
        raise UnreadableInput(f"{path}: no such file or directory")


def _read_file(file: str) -> list[Document]:
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text()
        bodies = [b for b in yaml.safe_load_all(text) if b is not None]
    except yaml.YAMLError as exc:
        raise UnreadableInput(f"{file}: not valid YAML: {exc}") from exc
    if len(bodies) == 1:
        return [Document(file, bodies[0])]
    return [Document(f"{file}#{i + 1}", body) for i, body in enumerate(bodies)]


def llmdeployment_documents(paths: list[str]) -> list[Document]:
    """The documents that are (or claim no kind and may be) LLMDeployments; Secrets and the like are skipped."""
    return [
        doc for doc in read_documents(paths)
        if not isinstance(doc.body, dict) or doc.body.get("kind") in (None, KIND)
    ]


def read_pools(filename: str) -> list[GPUPool]:
    try:
        entries = yaml.safe_load(Path(filename).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise BadInput(f"{filename}: cannot read pools: {exc}") from exc
    if not isinstance(entries, list) or not entries:
        raise BadInput(f"{filename}: must be a non-empty YAML list of pools ({{name, gpuProduct, gpusPerNode}})")
    pools = [_parse_pool(filename, index, entry) for index, entry in enumerate(entries)]
    names = [pool.name for pool in pools]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise BadInput(f"{filename}: pool names must be unique; repeated: {', '.join(duplicates)}")
    return pools


def _parse_pool(filename: str, index: int, entry: Any) -> GPUPool:
    try:
        return GPUPool.model_validate(entry)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(pool)'}: {err['msg']}" for err in exc.errors(include_url=False)
        )
        raise BadInput(f"{filename}[{index}]: {problems}") from exc
