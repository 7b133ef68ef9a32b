"""A download that an interruption does not restart: HTTP Range requests continue a partial file.

The bytes already received stay in the partial file; the next attempt (a retry, or the next run)
asks for the rest with ``Range: bytes=<size>-``. A server that answers 206 Partial Content
appends; one that ignores the range (200) sends the whole file, which replaces the partial file;
a 416 (range not satisfiable) means the partial file is already whole; a 206 that starts elsewhere
than asked drops the partial file (the next attempt starts over). Nothing here decides that the
file is right: the caller compares its checksum (:mod:`hgad.data.download`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import requests
import urllib3
from tqdm import tqdm

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
PARTIAL_CONTENT = 206
RANGE_NOT_SATISFIABLE = 416


def _range_start(response: requests.Response) -> int | None:
    """The first byte of a 206 answer (its ``Content-Range: bytes <start>-<end>/<total>``)."""
    content_range = response.headers.get("Content-Range", "")
    start = content_range.removeprefix("bytes ").partition("-")[0]
    return int(start) if start.isdigit() else None


def _transfer(url: str, target: Path, progress: bool, timeout: float) -> None:
    """One attempt: fetch what ``target`` lacks (all of it if it does not exist)."""
    offset = target.stat().st_size if target.is_file() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    with requests.get(url, headers=headers, stream=True, timeout=timeout) as response:
        if offset and response.status_code == RANGE_NOT_SATISFIABLE:
            return
        response.raise_for_status()
        if offset and response.status_code != PARTIAL_CONTENT:
            log.info("%s ignores the range request: downloading it whole again", url)
            offset = 0
        elif offset and _range_start(response) != offset:
            target.unlink()
            raise requests.ConnectionError(
                f"asked for the bytes from {offset}, the answer starts at "
                f"{_range_start(response)}; the partial file is dropped")
        elif offset:
            log.info("resuming %s at byte %d", url, offset)
        announced = response.headers.get("Content-Length")
        expected = int(announced) if announced and announced.isdigit() else None
        received = 0
        # keep every byte that arrived: the check below, not urllib3, reports a short body
        response.raw.enforce_content_length = False
        with open(target, "ab" if offset else "wb") as out, tqdm(
                total=None if expected is None else offset + expected, initial=offset,
                unit="B", unit_scale=True, desc=target.name, disable=not progress) as bar:
            try:  # read1: what has arrived, so that a failure loses nothing received
                while chunk := response.raw.read1(CHUNK_BYTES, decode_content=True):
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            except urllib3.exceptions.HTTPError as error:  # reset, timeout: what came is kept
                raise requests.ConnectionError(
                    f"connection broken after {received} bytes: {error}") from error
    if expected is not None and received < expected:
        raise requests.ConnectionError(
            f"connection closed after {received} of {expected} bytes")


def download_resumable(url: str, target: str | Path, progress: bool = True, retries: int = 3,
                       timeout: float = 60) -> Path:
    """Download ``url`` into ``target``, continuing a partial ``target`` left by an earlier
    attempt; retry a failed transfer ``retries`` times, each from where the last one stopped.

    Raises the last ``requests.RequestException`` when every attempt fails; the partial file
    is kept for the next call.
    """
    target = Path(target)
    for _ in range(retries):
        try:
            _transfer(url, target, progress, timeout)
            return target
        except requests.RequestException as error:
            log.warning("%s: %s; retrying", url, error)
    _transfer(url, target, progress, timeout)
    return target
