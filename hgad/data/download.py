"""Download and verify dataset archives.

URL and checksum come from the config, never from code: hosts move. Exactly one of ``sha256``
or ``md5`` is given (MVTec 3D-AD publishes only an md5). A file at the destination is always one
whose checksum matched: pooch streams into a temporary file and renames only a complete
download, and that download is verified before it takes the destination name. A download whose
checksum does not match is kept as ``<dest>.bad`` for inspection.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pooch
import requests

log = logging.getLogger(__name__)

TIMEOUT_S = 60


class DatasetError(ValueError):
    """An archive that cannot be used; the message names the file and the problem."""


def _digest(sha256: str | None, md5: str | None) -> tuple[str, str]:
    """The (algorithm, expected hex digest) pair; exactly one of the two must be given."""
    if (sha256 is None) == (md5 is None):
        raise ValueError("give exactly one of sha256 or md5")
    return ("sha256", sha256.lower()) if sha256 is not None else ("md5", md5.lower())


def _mismatch(name: Path, algorithm: str, expected: str, actual: str) -> str:
    """The error text for a checksum mismatch: the file and both digests."""
    return f"{name}: {algorithm} checksum mismatch: expected {expected}, got {actual}"


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
        raise DatasetError(_mismatch(path, algorithm, expected, actual))
    return path


def _download(url: str, target: Path, progress: bool, retries: int) -> Path:
    """Stream ``url`` into ``target`` with pooch (temporary file, renamed once complete)."""
    fetcher = pooch.create(
        path=target.parent,
        base_url="",
        registry={target.name: None},
        urls={target.name: url},
        retry_if_failed=retries,
    )
    downloader = pooch.HTTPDownloader(progressbar=progress, timeout=TIMEOUT_S)
    try:
        return Path(fetcher.fetch(target.name, downloader=downloader))
    except requests.exceptions.RequestException as err:
        raise DatasetError(
            f"{url}: download to {target} failed after {retries + 1} attempt(s): {err}; "
            "nothing was kept, run again to retry"
        ) from err


def fetch_archive(
    url: str,
    dest: str | os.PathLike,
    sha256: str | None = None,
    md5: str | None = None,
    progress: bool = True,
    retries: int = 3,
) -> Path:
    """Download ``url`` to ``dest`` unless a verified copy is there; return ``dest``.

    A failed transfer is retried ``retries`` times. A complete download whose checksum does not
    match raises :class:`DatasetError` with both digests and is kept as ``<dest>.bad``.
    """
    dest = Path(dest)
    if dest.is_file():
        try:
            return verify_archive(dest, sha256, md5)
        except DatasetError as err:
            raise DatasetError(f"{err}; delete it to download again") from None
    algorithm, expected = _digest(sha256, md5)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staged = _download(url, dest.with_name(dest.name + ".download"), progress, retries)
    actual = pooch.file_hash(str(staged), alg=algorithm)
    if actual != expected:
        bad = dest.with_name(dest.name + ".bad")
        os.replace(staged, bad)
        raise DatasetError(
            f"{_mismatch(dest, algorithm, expected, actual)}; the download from {url} "
            f"is kept as {bad} for inspection"
        )
    os.replace(staged, dest)
    log.info("downloaded %s to %s", url, dest)
    return dest
