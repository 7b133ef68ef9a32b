"""`hgad check-sources`: each dataset URL's reachability and size, without downloading, against
servers on 127.0.0.1 (a file, a missing file, a host refusing HEAD, a refused connection)."""

from __future__ import annotations

import re

import pytest
import yaml
from miniature import ArchiveServer, refused_url

from hgad.cli import main
from hgad.data.links import Probe, probe

SIZE = 5000


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("served")
    (folder / "data.tar").write_bytes(bytes(range(250)) * (SIZE // 250))
    (folder / "share.html").write_text("<html>This link has expired</html>")
    return folder


@pytest.fixture()
def servers(folder):
    """A plain server and one that refuses HEAD (403) but answers a ranged GET (206)."""
    with ArchiveServer(folder) as plain, ArchiveServer(folder, refuse_head=True) as s3_like:
        yield plain, s3_like


def _check_sources(tmp_path, datasets, capsys):
    """Run ``hgad check-sources`` on a config of ``datasets``: (exit code, printed lines)."""
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"datasets": datasets}))
    try:
        main(["check-sources", "--config", str(config), "--timeout", "5"])
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    out = capsys.readouterr().out
    return code, out.splitlines()


def _row(lines, url):
    """The table row of ``url``: its cells (dataset, reachable, answer, size, url)."""
    (row,) = [line for line in lines if line.endswith(url)]
    return re.split(r"\s{2,}", row)


def test_each_kind_of_answer(servers):
    plain, s3_like = servers
    whole = plain.url("data.tar")
    assert probe(whole) == Probe(whole, True, "HTTP 200 (HEAD)", SIZE)
    ranged = s3_like.url("data.tar")
    assert probe(ranged) == Probe(ranged, True, "HTTP 206 (ranged GET; HEAD: 403)", SIZE)
    missing = plain.url("gone.tar")
    assert probe(missing) == Probe(missing, False, "HTTP 404 File not found", None)
    with refused_url() as refused:
        assert probe(refused) == Probe(refused, False, "network error: Connection refused", None)
    page = plain.url("share.html")
    assert probe(page) == Probe(page, False, "HTTP 200 (HEAD), but a web page (text/html)", None)
    assert plain.gets == s3_like.gets == 0  # no file was downloaded


def test_table_and_exit_status(servers, tmp_path, capsys):
    plain, s3_like = servers
    checksum = {"sha256": "0" * 64}
    with refused_url() as dead:
        datasets = {
            "mirrored": {"layout": "mvtec", **checksum,
                         "urls": [plain.url("gone.tar"), plain.url("data.tar")]},
            "s3": {"layout": "visa", "url": s3_like.url("data.tar"), **checksum},
            "offline": {"layout": "btad", "urls": [dead], **checksum},
            "local": {"layout": "mvtec", "root": str(tmp_path)},
        }
        code, lines = _check_sources(tmp_path, datasets, capsys)
    assert "no reachable URL for offline;" in str(code)
    assert _row(lines, plain.url("gone.tar"))[:3] == ["mirrored", "NO", "HTTP 404 File not found"]
    assert _row(lines, plain.url("data.tar"))[:4] == [
        "mirrored", "yes", "HTTP 200 (HEAD)", "4.88 KiB"]
    assert _row(lines, s3_like.url("data.tar"))[:4] == [
        "s3", "yes", "HTTP 206 (ranged GET; HEAD: 403)", "4.88 KiB"]
    assert _row(lines, dead)[:3] == ["offline", "NO", "network error: Connection refused"]
    assert not any(line.startswith("local") for line in lines)

    del datasets["offline"]
    assert _check_sources(tmp_path, datasets, capsys)[0] == 0
