"""Cheap identities of inputs: dataset folders, manifest rows and the code of each stage."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import hgad
from hgad.data.manifest import make_manifest
from hgad.runtime.fingerprint import (
    EXTRACTION_CODE,
    SCORING_CODE,
    TRAINING_CODE,
    code_digest,
    folder_fingerprint,
    training_code_digest,
)


def _rewrite(path: Path, content: bytes) -> None:
    """Rewrite in place, the modification time moved on by a second (a later write)."""
    stat = path.stat()
    path.write_bytes(content)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def _folder(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    for name in ("a/train/001.png", "a/train/002.png", "b/test/001.png"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"image " + name.encode())
    return root


def test_folder_fingerprint_notices_a_rewrite_with_the_same_name_and_size(tmp_path):
    root = _folder(tmp_path)
    untouched = folder_fingerprint(root)
    assert untouched.startswith("3 files, ")
    assert folder_fingerprint(root) == untouched
    (root / ".snakemake_timestamp").write_text("")  # hidden files do not count
    assert folder_fingerprint(root) == untouched
    image = root / "a/train/002.png"
    _rewrite(image, image.read_bytes()[::-1])
    assert folder_fingerprint(root) != untouched


def test_folder_fingerprint_notices_added_and_removed_files(tmp_path):
    root = _folder(tmp_path)
    untouched = folder_fingerprint(root)
    (root / "b/test/002.png").write_bytes(b"new")
    assert folder_fingerprint(root).startswith("4 files, ")
    (root / "b/test/002.png").unlink()
    assert folder_fingerprint(root) == untouched
    (root / "b/test/001.png").rename(root / "b/test/003.png")
    assert folder_fingerprint(root) != untouched
    assert folder_fingerprint(tmp_path / "nowhere") == "absent"


def test_manifest_rows_carry_the_file_fingerprints(tmp_path):
    root = _folder(tmp_path)
    rows = [{"dataset": "d", "category": "a", "split": "train", "label": 0, "defect": "good",
             "image": str(root / "a/train/001.png"), "mask": ""},
            {"dataset": "d", "category": "b", "split": "test", "label": 1, "defect": "cut",
             "image": str(root / "b/test/001.png"), "mask": str(root / "a/train/002.png")}]
    before = make_manifest(rows)
    stamp = os.stat(root / "a/train/001.png")
    assert before["fingerprint"][0] == f"{stamp.st_size}-{stamp.st_mtime_ns}"
    assert before["fingerprint"][1].count(";") == 1  # image and mask
    _rewrite(root / "a/train/002.png", b"another mask")  # a mask counts as much as an image
    after = make_manifest(rows)
    assert after["fingerprint"][0] == before["fingerprint"][0]
    assert after["fingerprint"][1] != before["fingerprint"][1]


def test_training_code_digest_follows_each_training_module(tmp_path, monkeypatch):
    package = tmp_path / "hgad"
    shutil.copytree(Path(hgad.__file__).parent, package)
    monkeypatch.setattr(hgad, "__file__", str(package / "__init__.py"))
    original = training_code_digest()
    for name in TRAINING_CODE:
        source = (package / name).read_text()
        (package / name).write_text(source + "\n# edited\n")
        assert training_code_digest() != original, name
        (package / name).write_text(source)
    assert training_code_digest() == original


@pytest.mark.parametrize("modules", [EXTRACTION_CODE, SCORING_CODE], ids=["extraction", "scoring"])
def test_code_digests_follow_each_of_their_modules(tmp_path, monkeypatch, modules):
    """The workflow's extraction, evaluation and baseline rules take these digests as params, so
    an edit to any listed module reruns them instead of reusing their outputs."""
    package = tmp_path / "hgad"
    shutil.copytree(Path(hgad.__file__).parent, package)
    monkeypatch.setattr(hgad, "__file__", str(package / "__init__.py"))
    original = code_digest(modules)
    for name in modules:
        source = (package / name).read_text()
        (package / name).write_text(source + "\n# edited\n")
        assert code_digest(modules) != original, name
        (package / name).write_text(source)
    assert code_digest(modules) == original
