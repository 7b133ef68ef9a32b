"""Cheap identities of inputs, so that a changed input is never mistaken for the old one.

Files are identified by size and modification time (one ``stat`` each, no reading): rewriting
an image in place, even with the same name and size, changes its ``mtime_ns``. Code is
identified by a digest of its source and of every module of the package it imports
(:func:`code_digest`), found from the import statements, so no list of a stage's modules is kept.
"""

from __future__ import annotations

import ast
import hashlib
import os
from pathlib import Path

import hgad

PACKAGE = Path(hgad.__file__).parent


def is_hidden(name: str) -> bool:
    """Whether a file or folder name is hidden (``.DS_Store``, a Mac's ``._000.png`` companions,
    Snakemake's ``.snakemake_timestamp``): skipped by the fingerprints and every dataset index."""
    return name.startswith(".")


def file_stamp(path: str | os.PathLike) -> str:
    """``<bytes>-<mtime_ns>`` of a file; ``missing`` when there is none."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return "missing"
    return f"{stat.st_size}-{stat.st_mtime_ns}"


def _stamps(folder: str) -> list[tuple[str, int, int]]:
    """(path, bytes, mtime_ns) of every file under ``folder``, hidden ones skipped
    (:func:`is_hidden`)."""
    stamps = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if is_hidden(entry.name):
                continue
            if entry.is_dir():
                stamps += _stamps(entry.path)
            else:
                stat = entry.stat()
                stamps.append((entry.path, stat.st_size, stat.st_mtime_ns))
    return stamps


def folder_fingerprint(folder: str | os.PathLike) -> str:
    """``<n> files, <digest>`` over the names, sizes and mtimes of every file under ``folder``
    (``absent`` when it does not exist): equal for an untouched folder, different after any
    file was added, removed or rewritten."""
    if not os.path.isdir(folder):
        return "absent"
    folder = os.fspath(folder)
    stamps = sorted((path[len(folder):], size, mtime) for path, size, mtime in _stamps(folder))
    digest = hashlib.sha256(repr(stamps).encode())
    return f"{len(stamps)} files, {digest.hexdigest()[:16]}"


def imported_modules(source: str | os.PathLike, package: Path = PACKAGE) -> set[Path]:
    """The files of ``package`` that the Python file ``source`` imports, directly or through
    other modules of the package: every ``import`` statement, those inside functions included
    (torch-side modules are imported lazily), with the ``__init__.py`` of each package on the
    way. Read from the syntax tree, nothing is imported."""
    found: set[Path] = set()
    pending = [Path(source)]
    while pending:
        path = pending.pop()
        for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
            for name in _imported_names(node, path, package):
                for file in _module_files(name, package):
                    if file not in found:
                        found.add(file)
                        pending.append(file)
    return found


def _imported_names(node: ast.AST, path: Path, package: Path) -> list[str]:
    """Dotted names an import statement may load: the module, and for ``from m import x`` also
    ``m.x`` (a submodule, when it is one); relative imports resolved from ``path``."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:
        if not path.is_relative_to(package):  # a relative import outside the package
            return []
        parts = path.relative_to(package.parent).parent.parts
        base = ".".join([*parts[:len(parts) - node.level + 1], *filter(None, [base])])
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def _module_files(name: str, package: Path) -> list[Path]:
    """The existing files a dotted module name of ``package`` runs: each enclosing package's
    ``__init__.py``, then the module's own file; nothing for another package's names."""
    parts = name.split(".")
    if parts[0] != package.name:
        return []
    folder = package.parent.joinpath(*parts)
    files = [package.parent.joinpath(*parts[:depth], "__init__.py")
             for depth in range(1, len(parts) + 1)]
    files.append(folder.with_suffix(".py"))
    return [file for file in files if file.is_file()]


def code_digest(entry: str | os.PathLike, package: Path = PACKAGE) -> str:
    """sha256 of a stage's code: the source of ``entry`` (a rule script or a module) and of every
    module of ``package`` it imports (:func:`imported_modules`), each under its path in the
    package. An edit to any of them, or an import of one more module, changes it."""
    digest = hashlib.sha256(Path(entry).read_bytes())
    for file in sorted(imported_modules(entry, package)):
        name = file.relative_to(package.parent).as_posix()
        digest.update(b"\0" + name.encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()


def training_code_digest() -> str:
    """:func:`code_digest` of :mod:`hgad.training.train`: what a checkpoint must have been made
    with to be resumed (the model, losses, schedule, batches, warm start and the model file's
    inference record, all reached from there)."""
    return code_digest(PACKAGE / "training" / "train.py", PACKAGE)
