"""Download links: their reachability and size without downloading, and readable failures.

``hgad check-sources`` probes each URL of each dataset with a HEAD request; a host that refuses
HEAD (S3 and some share hosts answer 403 or 405) gets a GET of the first byte instead
(``Range: bytes=0-0``), whose body is never read. A web page (text/html) counts as unreachable:
share hosts answer a dead link with one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import requests
from tabulate import tabulate

from hgad.runtime.config import source_urls

TIMEOUT_S = 10


@dataclass(frozen=True)
class Probe:
    """The outcome of probing one URL: reachable or not, what was seen, the size if announced."""

    url: str
    reachable: bool
    outcome: str
    size: int | None


def describe_failure(error: requests.RequestException) -> str:
    """A short reason: ``HTTP 404 Not Found``, ``network error: Connection refused``, ..."""
    response = getattr(error, "response", None)
    if isinstance(error, requests.HTTPError) and response is not None:
        return f"HTTP {response.status_code} {response.reason}"
    if isinstance(error, requests.Timeout):
        return "network error: timed out"
    return f"network error: {_os_reason(error) or error}"


def _os_reason(error: BaseException) -> str | None:
    """The operating system's words deep in a requests/urllib3 exception chain, if any."""
    seen, queue = set(), [error]
    while queue:
        current = queue.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            return current.strerror
        queue += [e for e in (current.__cause__, current.__context__,
                              getattr(current, "reason", None), *current.args)
                  if isinstance(e, BaseException)]
    return None


def _announced_size(response: requests.Response) -> int | None:
    """The whole file's size: the total of a Content-Range, else the Content-Length of a 200."""
    content_range = response.headers.get("Content-Range", "")
    total = content_range.rpartition("/")[2]
    if total.isdigit():
        return int(total)
    length = response.headers.get("Content-Length", "")
    return int(length) if response.status_code == 200 and length.isdigit() else None


def probe(url: str, timeout: float = TIMEOUT_S) -> Probe:
    """HEAD ``url``; where that is not answered with success, GET its first byte instead."""
    try:
        response, via = requests.head(url, timeout=timeout, allow_redirects=True), "HEAD"
        if not response.ok:
            via = f"ranged GET; HEAD: {response.status_code}"
            response = requests.get(url, timeout=timeout, headers={"Range": "bytes=0-0"},
                                    stream=True)
            response.close()  # headers only: no body is read, even where Range is ignored
        response.raise_for_status()
    except requests.RequestException as error:
        return Probe(url, False, describe_failure(error), None)
    outcome = f"HTTP {response.status_code} ({via})"
    if response.headers.get("Content-Type", "").startswith("text/html"):
        # A share host's landing or "link expired" page, never an archive.
        return Probe(url, False, f"{outcome}, but a web page (text/html)", None)
    return Probe(url, True, outcome, _announced_size(response))


def check_sources(datasets: dict[str, dict], timeout: float = TIMEOUT_S
                  ) -> Iterator[tuple[str, Probe]]:
    """(dataset name, probe) for every URL of every dataset that has URLs, in config order."""
    for name, spec in datasets.items():
        for url in source_urls(spec):
            yield name, probe(url, timeout)


def format_size(size: int | None) -> str:
    """``4.91 GiB``-style size (binary units), ``?`` when unknown."""
    if size is None:
        return "?"
    exponent = min(3, max(0, size.bit_length() - 1) // 10)
    if exponent == 0:
        return f"{size} B"
    return f"{size / 1024 ** exponent:.2f} {('KiB', 'MiB', 'GiB')[exponent - 1]}"


def sources_table(probes: list[tuple[str, Probe]]) -> str:
    """A readable table: dataset, reachable, answer, size, URL (one row per URL)."""
    rows = [(name, "yes" if p.reachable else "NO", p.outcome,
             format_size(p.size) if p.reachable else "", p.url) for name, p in probes]
    return tabulate(rows, headers=["dataset", "reachable", "answer", "size", "url"])


def unreachable_datasets(probes: list[tuple[str, Probe]]) -> list[str]:
    """Names of the datasets none of whose URLs is reachable, in order."""
    names = dict.fromkeys(name for name, _ in probes)
    return [name for name in names
            if not any(p.reachable for n, p in probes if n == name)]
