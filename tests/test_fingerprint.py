"""Cheap identities of inputs: dataset folders, manifest rows and the code of each stage."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from file_tree import write_tree

from hgad.data.manifest import make_manifest
from hgad.runtime.fingerprint import (
    PACKAGE,
    code_digest,
    folder_fingerprint,
    imported_modules,
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


def _fake_package(root: Path) -> tuple[Path, Path]:
    """(package, entry script): the script imports pkg.a; pkg.a imports pkg.b inside a function;
    pkg.b takes a name from pkg.sub.c (relative import); pkg.d is imported by no one."""
    files = {
        "entry.py": "import os\nfrom pkg.a import run\n",
        "pkg/__init__.py": "",
        "pkg/a.py": "def run():\n    import pkg.b\n    return pkg.b.value\n",
        "pkg/b.py": "from .sub.c import value\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/c.py": "value = 1\n",
        "pkg/d.py": "value = 2\n",
    }
    write_tree(root, files)
    return root / "pkg", root / "entry.py"


def test_code_digest_follows_every_module_the_entry_reaches(tmp_path):
    package, entry = _fake_package(tmp_path)
    reached = {p.relative_to(tmp_path).as_posix() for p in imported_modules(entry, package)}
    assert reached == {"pkg/__init__.py", "pkg/a.py", "pkg/b.py", "pkg/sub/__init__.py",
                       "pkg/sub/c.py"}
    original = code_digest(entry, package)
    for name in ["entry.py", *sorted(reached)]:
        path = tmp_path / name
        source = path.read_text()
        path.write_text(source + "# edited\n")
        assert code_digest(entry, package) != original, name
        path.write_text(source)
    assert code_digest(entry, package) == original


def test_code_digest_ignores_modules_the_entry_does_not_reach(tmp_path):
    package, entry = _fake_package(tmp_path)
    original = code_digest(entry, package)
    (package / "d.py").write_text("value = 3\n")
    (package / "e.py").write_text("value = 4\n")  # a new module, imported by no one
    assert code_digest(entry, package) == original


def test_a_relative_import_outside_the_package_reaches_nothing(tmp_path):
    """A script in a folder of its own with ``from . import d``: d is the script's sibling
    module, not pkg.d."""
    package, _ = _fake_package(tmp_path / "tree")
    entry = tmp_path / "elsewhere" / "rule.py"
    write_tree(entry.parent, {"rule.py": "from . import d\nfrom pkg.sub.c import value\n"})
    reached = {p.relative_to(package).as_posix() for p in imported_modules(entry, package)}
    assert reached == {"__init__.py", "sub/__init__.py", "sub/c.py"}


def test_a_new_import_puts_the_module_in_the_digest(tmp_path):
    package, entry = _fake_package(tmp_path)
    (package / "sub" / "c.py").write_text("import pkg.d\nvalue = 1\n")
    with_import = code_digest(entry, package)
    (package / "d.py").write_text("value = 3\n")
    assert code_digest(entry, package) != with_import


def _reached(entry: Path) -> set[str]:
    """The package modules ``entry`` imports, directly or not, as paths inside hgad/."""
    return {p.relative_to(PACKAGE).as_posix() for p in imported_modules(entry)}


def _later_stages(reached: set[str]) -> set[str]:
    """The stages after training that ``reached`` (from :func:`_reached`) enters."""
    return {name.split("/")[0] for name in reached} & {"evaluation", "prediction", "reporting"}


def test_training_digest_covers_the_scoring_of_the_stored_constants():
    """The model file's train_max constants and training scores are computed at the end of
    training: an edit to their code must retrain, as one to the model or the losses does; an edit
    to evaluation code must not (the train rule's plain script imports none)."""
    for entry in (PACKAGE / "training" / "train.py", Path("workflow/scripts/train.py"),
                  Path("workflow/scripts/train_scored.py")):
        assert {"model/maps.py", "model/normalization.py", "model/prior.py",
                "training/inference.py", "features/batches.py"} <= _reached(entry), entry
    for entry in (PACKAGE / "training" / "train.py", Path("workflow/scripts/train.py")):
        assert _later_stages(_reached(entry)) == set(), entry


def test_scored_training_digest_covers_the_scoring_after_every_sub_epoch():
    """With train.score_every_sub_epoch the rule's script wires the test scoring in: an edit to
    the scoring's code reruns that training, and only that one reaches evaluation code."""
    reached = _reached(Path("workflow/scripts/train_scored.py"))
    assert {"evaluation/sub_epoch_scoring.py", "evaluation/metrics.py"} <= reached
    assert _later_stages(reached) == {"evaluation"}


def test_training_code_digest_follows_the_package(tmp_path, monkeypatch):
    package = tmp_path / "hgad"
    shutil.copytree(PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr("hgad.runtime.fingerprint.PACKAGE", package)
    original = training_code_digest()
    normalization = package / "model" / "normalization.py"
    source = normalization.read_text()
    normalization.write_text(source + "\n# edited\n")
    assert training_code_digest() != original
    normalization.write_text(source)
    (package / "reporting" / "tables.py").write_text("# edited\n")
    assert training_code_digest() == original
