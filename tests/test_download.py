"""Download, verification and unpacking of dataset archives, offline against a local server."""

from __future__ import annotations

import io
import os
import socket
import stat
import tarfile
import threading
import zipfile
from collections import Counter
from pathlib import Path

import pytest
import requests
from miniature import ARCHIVES, ArchiveServer, build_archive, refused_url

from hgad.data.checks import check_manifest
from hgad.data.download import DatasetError, fetch_archive, partial_path, verify_archive
from hgad.data.layouts import build_manifest
from hgad.data.resume import download_resumable
from hgad.data.unpack import unpack

WRONG_SHA256 = "0" * 64


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    """The four miniature archives, built once for this module."""
    folder = tmp_path_factory.mktemp("archives")
    return {dataset: build_archive(dataset, folder) for dataset in ARCHIVES}


@pytest.fixture()
def server(archives):
    """A local HTTP server for the archives' folder."""
    folder = next(iter(archives.values())).archive.parent
    with ArchiveServer(folder) as running:
        yield running


def _checksum(miniature):
    """The published kind of checksum of ``miniature`` (md5 for MVTec 3D-AD) and its value."""
    algorithm = "md5" if miniature.layout == "mvtec3d" else "sha256"
    return {algorithm: miniature.digest(algorithm)}


def _fetch(server, miniature, dest, **options):
    """Download ``miniature`` from ``server`` with its published checksum."""
    return fetch_archive(
        server.url(miniature.archive.name), dest, progress=False, **_checksum(miniature), **options
    )


@pytest.mark.parametrize("dataset", sorted(ARCHIVES))
def test_fetch_unpack_index(dataset, archives, server, tmp_path):
    miniature = archives[dataset]
    archive = _fetch(server, miniature, tmp_path / "downloads" / miniature.archive.name)
    assert archive.read_bytes() == miniature.archive.read_bytes()
    root = unpack(archive, tmp_path / dataset)
    frame = build_manifest(miniature.layout, root, dataset)
    assert Counter(zip(frame["split"], frame["label"], strict=True)) == miniature.counts
    assert set(frame["dataset"]) == {dataset}
    check_manifest(frame, progress=False)


def test_fetch_keeps_a_verified_copy(archives, server, tmp_path):
    miniature = archives["btad"]
    dest = tmp_path / miniature.archive.name
    _fetch(server, miniature, dest)
    assert _fetch(server, miniature, dest) == dest
    assert server.gets == 1


def test_checksum_mismatch_keeps_bad_download(archives, server, tmp_path):
    miniature = archives["visa"]
    dest = tmp_path / miniature.archive.name
    with pytest.raises(DatasetError) as error:
        fetch_archive(server.url(miniature.archive.name), dest, sha256=WRONG_SHA256, progress=False)
    message = str(error.value)
    assert WRONG_SHA256 in message and miniature.digest("sha256") in message
    assert str(dest) in message
    assert not dest.exists()
    bad = dest.with_name(dest.name + ".bad")
    assert bad.read_bytes() == miniature.archive.read_bytes()


def test_existing_file_with_wrong_checksum_is_an_error(archives, server, tmp_path):
    dest = tmp_path / "mvtec_anomaly_detection.tar.xz"
    dest.write_bytes(b"not the archive")
    with pytest.raises(DatasetError, match="delete it to download again"):
        _fetch(server, archives["mvtec"], dest)
    assert server.gets == 0


def test_cut_download_is_resumed_by_the_next_run(archives, server, tmp_path):
    miniature = archives["visa"]
    dest = tmp_path / miniature.archive.name
    whole = miniature.archive.read_bytes()
    half = len(whole) // 2
    server.cut_next(half)
    with pytest.raises(DatasetError, match=r"\(after 1 attempt\)"):
        _fetch(server, miniature, dest, retries=0)
    assert not dest.exists()
    assert partial_path(dest).read_bytes() == whole[:half]
    _fetch(server, miniature, dest, retries=0)
    assert server.ranged == [half]  # only the missing bytes were asked for
    assert dest.read_bytes() == whole
    assert sorted(p.name for p in tmp_path.iterdir()) == [dest.name]


def test_cut_download_is_retried_from_where_it_stopped(archives, server, tmp_path):
    miniature = archives["mvtec3d"]
    server.cut_next(100)
    dest = _fetch(server, miniature, tmp_path / miniature.archive.name, retries=1)
    assert dest.read_bytes() == miniature.archive.read_bytes()
    assert server.gets == 1 and server.ranged == [100]


def test_a_server_ignoring_ranges_sends_the_whole_file_again(archives, tmp_path):
    miniature = archives["btad"]
    dest = tmp_path / miniature.archive.name
    with ArchiveServer(miniature.archive.parent, ignore_ranges=True) as server:
        server.cut_next(50)
        dest = _fetch(server, miniature, dest, retries=1)
    assert dest.read_bytes() == miniature.archive.read_bytes()


def test_the_checksum_decides_over_a_resumed_file(archives, server, tmp_path):
    """A partial file of other bytes is continued, fails the checksum, is kept as .bad; the next
    run starts from nothing and delivers the archive."""
    miniature = archives["mvtec"]
    dest = tmp_path / miniature.archive.name
    partial_path(dest).write_bytes(b"x" * 64)
    with pytest.raises(DatasetError, match="checksum mismatch"):
        _fetch(server, miniature, dest, retries=0)
    assert server.ranged == [64]
    bad = dest.with_name(dest.name + ".bad")
    assert bad.read_bytes()[:64] == b"x" * 64
    assert not partial_path(dest).exists()
    _fetch(server, miniature, dest, retries=0)
    assert dest.read_bytes() == miniature.archive.read_bytes()


def test_an_answer_from_the_wrong_byte_starts_over(archives, server, tmp_path):
    miniature = archives["visa"]
    dest = tmp_path / miniature.archive.name
    whole = miniature.archive.read_bytes()
    partial_path(dest).write_bytes(whole[:100])
    server.range_shift = 40  # answers the range from byte 60 while saying so
    _fetch(server, miniature, dest, retries=1)
    assert server.ranged == [60] and server.gets == 1  # dropped, then fetched whole
    assert dest.read_bytes() == whole


def test_a_stalled_transfer_keeps_what_arrived(tmp_path):
    """A server that sends 10 of 100 bytes, then nothing: the read times out, the 10 bytes stay
    in the partial file for the next attempt."""
    timed_out = threading.Event()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)

        def stall():
            connection, _ = listener.accept()
            with connection:
                connection.recv(4096)
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
                timed_out.wait(10)  # the connection stays open, silent, until the client gives up

        thread = threading.Thread(target=stall, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/a.tar"
        with pytest.raises(requests.ConnectionError, match="after 10 bytes"):
            download_resumable(url, tmp_path / "a.tar", progress=False, retries=0, timeout=0.5)
        timed_out.set()
        thread.join()
    assert (tmp_path / "a.tar").read_bytes() == b"x" * 10


def test_a_complete_partial_file_is_verified_not_fetched_again(archives, server, tmp_path):
    miniature = archives["btad"]
    dest = tmp_path / miniature.archive.name
    partial_path(dest).write_bytes(miniature.archive.read_bytes())
    _fetch(server, miniature, dest, retries=0)  # the server answers 416: nothing is missing
    assert dest.read_bytes() == miniature.archive.read_bytes()
    assert server.gets == 0 and server.ranged == []


def test_second_url_serves_when_the_first_is_missing(archives, server, tmp_path):
    miniature = archives["mvtec"]
    dest = tmp_path / miniature.archive.name
    urls = [server.url("moved/" + miniature.archive.name), server.url(miniature.archive.name)]
    assert fetch_archive(urls, dest, progress=False, retries=0, **_checksum(miniature)) == dest
    assert dest.read_bytes() == miniature.archive.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == [dest.name]


def test_every_url_failing_is_one_message_with_the_remedy(archives, server, tmp_path):
    miniature = archives["mvtec"]
    dest = tmp_path / miniature.archive.name
    missing = server.url("moved/" + miniature.archive.name)
    wrong = server.url(archives["visa"].archive.name)  # a host serving another file
    with refused_url() as refused, pytest.raises(DatasetError) as error:
        fetch_archive([missing, wrong, refused], dest, progress=False, retries=0,
                      dataset="mvtec", **_checksum(miniature))
    lines = str(error.value).splitlines()
    second_bad = tmp_path / (dest.name + ".2.bad")
    assert lines[1] == f"  1. {missing}: HTTP 404 File not found (after 1 attempt)"
    assert lines[2].startswith(f"  2. {wrong}: sha256 checksum mismatch: expected "
                               f"{miniature.digest('sha256')}, got "
                               f"{archives['visa'].digest('sha256')}; the file is kept as "
                               f"{second_bad}")
    assert lines[3] == f"  3. {refused}: network error: Connection refused (after 1 attempt)"
    assert "datasets.mvtec" in lines[4]
    assert lines[-1] == f"    archive: /path/to/{dest.name}"
    assert second_bad.read_bytes() == archives["visa"].archive.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == [second_bad.name]


def test_missing_file_on_server(server, tmp_path):
    with pytest.raises(DatasetError, match="404"):
        fetch_archive(server.url("nothing.tar"), tmp_path / "x.tar", sha256=WRONG_SHA256,
                      progress=False, retries=0)


@pytest.mark.parametrize("digests", [{}, {"sha256": WRONG_SHA256, "md5": "0" * 32}])
def test_exactly_one_checksum(digests, tmp_path):
    with pytest.raises(ValueError, match="exactly one of sha256 or md5"):
        fetch_archive("http://127.0.0.1:9/x.tar", tmp_path / "x.tar", **digests)
    with pytest.raises(ValueError, match="exactly one of sha256 or md5"):
        verify_archive(tmp_path / "x.tar", **digests)


def test_verify_user_archive(archives):
    miniature = archives["mvtec3d"]
    assert verify_archive(miniature.archive, md5=miniature.digest("md5").upper())
    with pytest.raises(DatasetError) as error:
        verify_archive(miniature.archive, md5="0" * 32)
    assert f"expected {'0' * 32}, got {miniature.digest('md5')}" in str(error.value)
    assert miniature.archive.is_file()


def test_verify_missing_archive(tmp_path):
    with pytest.raises(DatasetError, match="archive not found"):
        verify_archive(tmp_path / "absent.tar", sha256=WRONG_SHA256)


def _tar(path: Path, members: list[tarfile.TarInfo]) -> Path:
    """A tar archive of the given members (regular files get a few bytes)."""
    with tarfile.open(path, "w") as tar:
        for member in members:
            data = b"data" if member.isreg() else b""
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    return path


def _tar_member(name: str, link: str | None = None) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    if link is not None:
        member.type, member.linkname = tarfile.SYMTYPE, link
    return member


def _zip(path: Path, members: list[tuple[str, str | None]]) -> Path:
    """A zip archive of (name, link target or None for a regular file) members."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, link in members:
            info = zipfile.ZipInfo(name)
            if link is None:
                zf.writestr(info, b"data")
            else:
                info.create_system = 3
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                zf.writestr(info, link)
    return path


def _archive(kind: str, path: Path, name: str, link: str | None = None) -> Path:
    """A tar or zip archive holding a harmless file and the member ``name``."""
    if kind == "tar":
        return _tar(path.with_suffix(".tar"), [_tar_member("ok.txt"), _tar_member(name, link)])
    return _zip(path.with_suffix(".zip"), [("ok.txt", None), (name, link)])


@pytest.mark.parametrize("kind", ["tar", "zip"])
@pytest.mark.parametrize("name", ["../escape.txt", "sub/../../escape.txt", "/abs/escape.txt"])
def test_member_outside_is_refused(kind, name, tmp_path):
    archive = _archive(kind, tmp_path / "evil", name)
    with pytest.raises(DatasetError, match="refusing member") as error:
        unpack(archive, tmp_path / "out")
    assert name in str(error.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == [archive.name]


@pytest.mark.parametrize("kind", ["tar", "zip"])
@pytest.mark.parametrize("link", ["../../outside", "/etc"])
def test_link_outside_is_refused(kind, link, tmp_path):
    archive = _archive(kind, tmp_path / "evil", "data/link", link)
    with pytest.raises(DatasetError, match="refusing member 'data/link'"):
        unpack(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_link_through_a_link_is_refused(kind, tmp_path):
    """``here/up`` looks inside, but ``here`` is the target folder itself, so ``..`` escapes."""
    members = [("here", "."), ("here/up", "..")]
    if kind == "tar":
        archive = _tar(tmp_path / "evil.tar", [_tar_member(*member) for member in members])
    else:
        archive = _zip(tmp_path / "evil.zip", members)
    with pytest.raises(DatasetError, match="refusing member 'here/up'"):
        unpack(archive, tmp_path / "out")


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_link_inside_is_kept(kind, tmp_path):
    archive = _archive(kind, tmp_path / "fine", "data/link", "../ok.txt")
    out = unpack(archive, tmp_path / "out")
    assert os.readlink(out / "data" / "link") == "../ok.txt"
    assert (out / "data" / "link").read_bytes() == b"data"


def test_existing_destination(archives, tmp_path):
    archive = archives["mvtec"].archive
    dest = tmp_path / "mvtec"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    with pytest.raises(DatasetError, match=f"{dest}: already exists"):
        unpack(archive, dest)
    unpack(archive, dest, replace=True)
    assert not (dest / "old.txt").exists() and (dest / "bottle").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mvtec"]


def test_truncated_archive_leaves_nothing(archives, tmp_path):
    data = archives["mvtec"].archive.read_bytes()
    archive = tmp_path / "mvtec_anomaly_detection.tar.xz"
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match="truncated or corrupt"):
        unpack(archive, tmp_path / "mvtec")
    assert sorted(p.name for p in tmp_path.iterdir()) == [archive.name]


def test_interrupted_unpack_is_cleaned_up(archives, tmp_path):
    stale = tmp_path / ".btad.partial-1234"
    (stale / "BTech_Dataset_transformed").mkdir(parents=True)
    unpack(archives["btad"].archive, tmp_path / "btad")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["btad"]


def test_unknown_archive_type(tmp_path):
    path = tmp_path / "data.rar"
    path.write_bytes(b"x")
    with pytest.raises(DatasetError, match="unknown archive type"):
        unpack(path, tmp_path / "out")
