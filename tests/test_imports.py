"""Arrows point down the pipeline: a stage imports only the stages before it, and no module takes
another module's private names. Read from the syntax trees of the sources, nothing is imported."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from file_tree import write_tree

from hgad.runtime.fingerprint import PACKAGE

# The stages of hgad, in pipeline order; hgad/cli.py (the command line) may import every one.
STAGES = ("runtime", "data", "features", "model", "training", "evaluation", "prediction",
          "export", "reporting")
REPOSITORY = PACKAGE.parent


def _imports(path: Path, root: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, names taken) of every import statement of a file below ``root``, those in
    functions included; relative imports are resolved from the file's folder."""
    found = []
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                parts = path.relative_to(root).parent.parts
                module = ".".join([*parts[:len(parts) - node.level + 1], *filter(None, [module])])
            found.append((node.lineno, module, [alias.name for alias in node.names]))
    return found


def _stage(module: str) -> str | None:
    """The stage of a dotted hgad module name (None outside the stages)."""
    parts = module.split(".")
    return parts[1] if parts[0] == "hgad" and len(parts) > 1 and parts[1] in STAGES else None


def stage_violations(package: Path) -> list[str]:
    """``file:line imports module`` for every import of a later stage by a stage's module."""
    found = []
    for path in sorted(package.rglob("*.py")):
        own = _stage(".".join(path.relative_to(package.parent).with_suffix("").parts))
        if own is None:
            continue
        for line, module, names in _imports(path, package.parent):
            for imported in [module, *(f"{module}.{name}" for name in names)]:
                stage = _stage(imported)
                if stage is not None and STAGES.index(stage) > STAGES.index(own):
                    found.append(f"{path.relative_to(package.parent)}:{line} imports {imported}")
                    break
    return found


def private_imports(folders: list[Path]) -> list[str]:
    """``file:line takes module._name`` for every ``from module import _name`` (dunders such as
    ``__version__`` are public)."""
    found = []
    for folder in folders:
        for path in sorted(folder.rglob("*.py")):
            for line, module, names in _imports(path, folder.parent):
                found += [f"{path.relative_to(folder.parent)}:{line} takes {module}.{name}"
                          for name in names if name.startswith("_") and not name.endswith("__")]
    return found


def test_every_subpackage_is_a_stage():
    subpackages = {path.parent.name for path in PACKAGE.glob("*/__init__.py")}
    assert subpackages == set(STAGES), subpackages ^ set(STAGES)


def test_no_stage_imports_a_later_one():
    assert stage_violations(PACKAGE) == []


@pytest.mark.parametrize("folder", ["hgad", "bench", "tests", "workflow"])
def test_no_module_takes_another_modules_private_names(folder):
    assert private_imports([REPOSITORY / folder]) == []


def test_the_checks_find_what_they_look_for(tmp_path):
    package = tmp_path / "hgad"
    files = {
        "__init__.py": "",
        "cli.py": "from hgad.reporting import tables\n",  # the command line may import all
        "model/net.py": "import hgad.runtime.atomic\n",
        "training/train.py": "def late():\n    from hgad.prediction.inference import record\n",
        "training/ok.py": "from ..model import net\n",
        "evaluation/score.py": "from ..reporting import tables\n",
        "reporting/tables.py": "from hgad.training.train import _step\n",
    }
    write_tree(package, files)
    assert stage_violations(package) == [
        "hgad/evaluation/score.py:1 imports hgad.reporting",
        "hgad/training/train.py:2 imports hgad.prediction.inference",
    ]
    assert private_imports([package]) == [
        "hgad/reporting/tables.py:1 takes hgad.training.train._step"]
