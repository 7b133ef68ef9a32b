"""Unpack a dataset archive so that an interrupted unpack is never taken for a dataset.

Members are extracted into a temporary sibling folder (``.<dest>.partial-*``), which is renamed
to ``dest`` only once everything is out. Members with absolute paths, ``..`` components or links
pointing outside the target are refused: tarfile's ``data`` filter for tar archives, the same
rule for zip archives.
"""

from __future__ import annotations

import gzip
import logging
import lzma
import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath, PureWindowsPath

from hgad.data.download import DatasetError

log = logging.getLogger(__name__)

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2")
ZIP_SUFFIXES = (".zip",)


def _inside(path: str, root: str) -> bool:
    """Whether ``path`` (after resolving links) lies in the folder ``root``."""
    root = os.path.realpath(root)
    return os.path.commonpath([os.path.realpath(path), root]) == root


def _absolute(name: str) -> bool:
    """Whether a member name is absolute on any system (``/x``, ``\\x``, ``C:x``)."""
    return name.startswith(("/", "\\")) or bool(PureWindowsPath(name).drive)


def _data_filter(member: tarfile.TarInfo, dest_path: str) -> tarfile.TarInfo:
    """tarfile's ``data`` filter, which also refuses absolute names instead of stripping them."""
    if _absolute(member.name):
        raise tarfile.AbsolutePathError(member)
    return tarfile.data_filter(member, dest_path)


def _extract_tar(archive: Path, target: Path) -> None:
    """Extract a (compressed) tar archive with the ``data`` filter."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(target, filter=_data_filter)
    except tarfile.FilterError as err:
        raise DatasetError(f"{archive}: refusing member {err.tarinfo.name!r}: {err}") from None
    except (tarfile.TarError, EOFError, lzma.LZMAError, zlib.error, gzip.BadGzipFile) as err:
        raise DatasetError(f"{archive}: truncated or corrupt tar archive: {err}") from err


def _zip_link(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> str | None:
    """The target of a symbolic-link member, None for other members."""
    if not stat.S_ISLNK(info.external_attr >> 16):
        return None
    return zf.read(info).decode()


def _extract_zip_member(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, archive: Path
) -> None:
    """Extract one member after checking that it, and a link's target, stay in ``target``."""
    parts = PurePosixPath(info.filename.replace("\\", "/")).parts
    if _absolute(info.filename) or ".." in parts:
        raise DatasetError(f"{archive}: refusing member {info.filename!r}: absolute path or '..'")
    path = target.joinpath(*parts)
    if not _inside(str(path), str(target)):
        raise DatasetError(f"{archive}: refusing member {info.filename!r}: outside the target")
    link = _zip_link(zf, info)
    if link is None:
        zf.extract(info, target)
        return
    if os.path.isabs(link) or not _inside(os.path.join(path.parent, link), str(target)):
        raise DatasetError(
            f"{archive}: refusing member {info.filename!r}: link to {link!r} outside the target"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(link, path)


def _extract_zip(archive: Path, target: Path) -> None:
    """Extract a zip archive member by member, with the tar ``data`` filter's rule."""
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                _extract_zip_member(zf, info, target, archive)
    except (zipfile.BadZipFile, EOFError, zlib.error) as err:
        raise DatasetError(f"{archive}: truncated or corrupt zip archive: {err}") from err


def _extractor(archive: Path) -> Callable[[Path, Path], None]:
    """The extraction function for ``archive``, chosen by its name."""
    name = archive.name.lower()
    if name.endswith(TAR_SUFFIXES):
        return _extract_tar
    if name.endswith(ZIP_SUFFIXES):
        return _extract_zip
    raise DatasetError(
        f"{archive}: unknown archive type (expected {', '.join(TAR_SUFFIXES + ZIP_SUFFIXES)})"
    )


def _remove_stale_partials(dest: Path) -> None:
    """Delete temporary folders that an interrupted earlier unpack of ``dest`` left behind."""
    prefixes = (f".{dest.name}.partial-", f".{dest.name}.old-")
    for stale in (p for p in dest.parent.iterdir() if p.name.startswith(prefixes)):
        log.info("removing %s left by an interrupted unpack", stale)
        shutil.rmtree(stale)


def _move_into_place(partial: Path, dest: Path) -> None:
    """Rename the complete ``partial`` folder to ``dest``, replacing an existing ``dest``."""
    if not dest.exists():
        os.replace(partial, dest)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
    os.replace(dest, old / dest.name)
    os.replace(partial, dest)
    shutil.rmtree(old)


def unpack(archive: str | os.PathLike, dest: str | os.PathLike, replace: bool = False) -> Path:
    """Extract a .tar, .tar.gz, .tar.xz or .zip ``archive`` to the folder ``dest``; return it.

    An existing ``dest`` is an error unless ``replace`` is true. ``dest`` appears only once the
    whole archive is extracted.
    """
    archive, dest = Path(archive), Path(dest)
    extract = _extractor(archive)
    if not archive.is_file():
        raise DatasetError(f"{archive}: archive not found")
    if dest.exists() and not replace:
        raise DatasetError(f"{dest}: already exists; remove it or ask to replace it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(dest)
    partial = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    try:
        extract(archive, partial)
        _move_into_place(partial, dest)
    finally:
        if partial.exists():
            shutil.rmtree(partial)
    log.info("unpacked %s to %s", archive, dest)
    return dest
