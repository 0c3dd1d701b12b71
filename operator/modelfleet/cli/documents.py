"""Reading the YAML a user hands to the CLI: files, directories or stdin."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import yaml


@dataclass(frozen=True)
class Document:
    source: str  # "FILE" or "FILE#N" when a file holds several documents
    body: Any


class UnreadableInput(ValueError):
    """A file that does not exist or is not YAML; the message says which."""


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
