"""Download and verify dataset archives.

URLs and checksum come from the config, never from code: hosts move (a dataset may list
mirrors, tried in order; the checksum decides which delivered it). Exactly one of ``sha256``
or ``md5`` is given (MVTec 3D-AD publishes only an md5). A file at the destination is always one
whose checksum matched: the transfer streams into ``<dest>.download``, which an interrupted
transfer leaves behind and the next attempt (a retry, another mirror, the next run) continues
with an HTTP Range request (:mod:`hgad.data.resume`); only a complete download whose checksum
matches takes the destination name. A download whose checksum does not match is kept as
``<dest>.bad`` for inspection, and the next attempt starts from nothing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import pooch
import requests

from hgad.data.links import describe_failure
from hgad.data.resume import download_resumable

log = logging.getLogger(__name__)

TIMEOUT_S = 60


class DatasetError(ValueError):
    """An archive that cannot be used; the message names the file and the problem."""


def _digest(sha256: str | None, md5: str | None) -> tuple[str, str]:
    """The (algorithm, expected hex digest) pair; exactly one of the two must be given."""
    if (sha256 is None) == (md5 is None):
        raise ValueError("give exactly one of sha256 or md5")
    return ("sha256", sha256.lower()) if sha256 is not None else ("md5", md5.lower())


def _mismatch(algorithm: str, expected: str, actual: str) -> str:
    """The error text for a checksum mismatch: both digests."""
    return f"{algorithm} checksum mismatch: expected {expected}, got {actual}"


def verify_archive(
    path: str | os.PathLike, sha256: str | None = None, md5: str | None = None
) -> Path:
    """Check ``path`` against its published checksum and return it; a mismatch is an error.

    Used as is for an archive the user already holds (``archive:`` in the config): the file is
    never moved or changed.
    """
    path = Path(path)
    algorithm, expected = _digest(sha256, md5)
    if not path.is_file():
        raise DatasetError(f"{path}: archive not found")
    actual = pooch.file_hash(str(path), alg=algorithm)
    if actual != expected:
        raise DatasetError(f"{path}: {_mismatch(algorithm, expected, actual)}")
    return path


def _fetch_from(url: str, dest: Path, bad: Path, algorithm: str, expected: str, progress: bool,
                retries: int) -> str | None:
    """Download ``url`` to ``dest`` if it delivers the archive; else say why not.

    A failed transfer leaves its partial file for the next attempt to continue; a complete file
    with the wrong checksum is kept as ``bad``.
    """
    try:
        staged = download_resumable(url, partial_path(dest), progress, retries, TIMEOUT_S)
    except requests.RequestException as err:
        attempts = retries + 1
        return f"{describe_failure(err)} (after {attempts} attempt{'s' * (attempts > 1)})"
    actual = pooch.file_hash(str(staged), alg=algorithm)
    if actual != expected:
        os.replace(staged, bad)
        return f"{_mismatch(algorithm, expected, actual)}; the file is kept as {bad} for inspection"
    os.replace(staged, dest)
    return None


def partial_path(dest: Path) -> Path:
    """Where the download of ``dest`` accumulates until it is complete and verified."""
    return dest.with_name(dest.name + ".download")


def _bad_path(dest: Path, number: int) -> Path:
    """Where the wrong file of the ``number``-th URL is kept: ``<dest>.bad``, ``<dest>.2.bad``."""
    return dest.with_name(dest.name + (".bad" if number == 1 else f".{number}.bad"))


def fetch_archive(
    urls: str | Sequence[str],
    dest: str | os.PathLike,
    sha256: str | None = None,
    md5: str | None = None,
    progress: bool = True,
    retries: int = 3,
    dataset: str = "<name>",
) -> Path:
    """Download the archive to ``dest`` unless a verified copy is there; return ``dest``.

    ``urls`` (one URL or mirrors) are tried in order until one delivers a file with the
    checksum: the checksum decides, never the host. A failed transfer is retried ``retries``
    times, each retry continuing where the last stopped (so does the next call after a
    failure). When every URL fails, one :class:`DatasetError` lists each with its HTTP status,
    network error or checksum mismatch and says how to hand over an archive downloaded by hand
    (the ``archive:`` line for ``datasets.<dataset>``).
    """
    urls = [urls] if isinstance(urls, str) else list(urls)
    dest = Path(dest)
    if dest.is_file():
        try:
            return verify_archive(dest, sha256, md5)
        except DatasetError as err:
            raise DatasetError(f"{err}; delete it to download again") from None
    algorithm, expected = _digest(sha256, md5)
    dest.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    for number, url in enumerate(urls, 1):
        failure = _fetch_from(url, dest, _bad_path(dest, number), algorithm, expected, progress,
                              retries)
        if failure is None:
            log.info("downloaded %s to %s", url, dest)
            return dest
        log.warning("%s: %s", url, failure)
        failures.append(f"  {number}. {url}: {failure}")
    raise DatasetError(
        f"{dest}: no URL delivered the archive ({algorithm} {expected}):\n"
        + "\n".join(failures)
        + "\nIf you downloaded the archive by hand, add this line under "
        f"datasets.{dataset} in your config\n(the file is then checked against the {algorithm}, "
        f"not downloaded):\n    archive: /path/to/{dest.name}"
    )
