"""Every reference to a Markdown file in the code and the docs points to a file that exists, and
every ``#anchor`` names a heading of that page. A Markdown link is resolved as GitHub does,
relative to the page it is on; a path in prose or a docstring may also be relative to the
repository's root."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCANNED = ["hgad", "workflow", "bench", "scripts", "config", "docs", "README.md", "Snakefile"]
SUFFIXES = {".py", ".smk", ".md", ".rst", ".yaml", ".yml", ".sh", ""}
# A path ending in .md, not part of a templated name (``{dataset}.md``) or a longer path.
REFERENCE = re.compile(r"(?<![\w{}/.<>-])((?:\.\./|[\w-]+/)*[\w-]+\.md)(#[\w-]+)?")
SAME_PAGE_ANCHOR = re.compile(r"\]\((#[\w-]+)\)")
# Files the workflow writes: named in rules, scripts and docs, never present in a checkout.
GENERATED = ("results/",)
FENCE = re.compile(r"^\s*(```|~~~)")


def heading_anchors(markdown: str) -> set[str]:
    """GitHub's anchors of a page's headings (fenced code blocks skipped)."""
    anchors, fenced = set(), False
    for line in markdown.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced and (match := re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)):
            text = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower())
            anchors.add("#" + text.replace(" ", "-"))
    return anchors


def _files(root: Path, scanned: list[str]) -> list[Path]:
    files = []
    for name in scanned:
        path = root / name
        candidates = [path] if path.is_file() else sorted(path.rglob("*")) if path.is_dir() else []
        files += [p for p in candidates if p.is_file() and p.suffix in SUFFIXES
                  and "__pycache__" not in p.parts]
    return files


def _target(root: Path, source: Path, reference: str, is_link: bool) -> Path | None:
    """The file a reference means: relative to the referring file, else (not for a Markdown
    link) to the repository."""
    for base in (source.parent,) if is_link else (source.parent, root):
        candidate = (base / reference).resolve()
        if candidate.is_file() and candidate.is_relative_to(root):
            return candidate
    return None


def dangling_references(root: Path, scanned: list[str] = SCANNED) -> list[str]:
    """``file:line: problem`` for every reference that does not resolve under ``root``."""
    problems = []
    for source in _files(root, scanned):
        text = source.read_text(encoding="utf-8")
        where = source.relative_to(root)
        is_markdown = source.suffix == ".md"
        for number, line in enumerate(text.splitlines(), start=1):
            for match in REFERENCE.finditer(line):
                reference, anchor = match.groups()
                if reference.startswith(GENERATED):
                    continue
                is_link = is_markdown and line[:match.start()].endswith("](")
                target = _target(root, source, reference, is_link)
                if target is None:
                    problems.append(f"{where}:{number}: {reference} does not exist")
                elif anchor and anchor not in heading_anchors(target.read_text(encoding="utf-8")):
                    problems.append(f"{where}:{number}: {reference} has no heading {anchor}")
            if is_markdown:
                for anchor in SAME_PAGE_ANCHOR.findall(line):
                    if anchor not in heading_anchors(text):
                        problems.append(f"{where}:{number}: no heading {anchor} on this page")
    return problems


def test_every_markdown_reference_exists():
    assert dangling_references(REPO) == []


def test_the_documentation_pages_exist():
    for page in ("method", "datasets", "metrics", "cluster", "architecture"):
        assert (REPO / "docs" / f"{page}.md").is_file()
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "[docs/cluster.md](docs/cluster.md)" in readme
    assert "### The SLURM profile" not in readme  # the cluster manual lives in docs/cluster.md


def test_method_page_lists_each_deviation_from_the_reference_code():
    method = (REPO / "docs" / "method.md").read_text(encoding="utf-8")
    section = method.split("## Differences from the reference code", 1)[1]
    for topic in ("One optimiser per level", "torch 2.0", "partial batch", "float16",
                  "permutation", "Union class indices", "Model selection"):
        assert topic in section, topic


@pytest.fixture
def planted(tmp_path) -> Path:
    """A miniature repository holding one dangling reference of each kind."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "method.md").write_text(
        "# Method\n\n## Scoring\n\n```bash\n# Not a heading\n```\n"
        "See [scoring](#scoring), [nothing](#nowhere), [config](config/README.md).\n")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "README.md").write_text("# Configuration\n")
    (tmp_path / "hgad").mkdir()
    (tmp_path / "hgad" / "flow.py").write_text(
        '"""Flow (method.md §2), docs/method.md#scoring, docs/method.md#not-a-heading,\n'
        'docs/method.md#flow, results/tables/{dataset}.md and results/tables/demo.md."""\n')
    return tmp_path


def test_the_check_finds_planted_dangling_references(planted):
    assert dangling_references(planted, ["hgad", "docs"]) == [
        "hgad/flow.py:1: method.md does not exist",
        "hgad/flow.py:1: docs/method.md has no heading #not-a-heading",
        "hgad/flow.py:2: docs/method.md has no heading #flow",
        "docs/method.md:8: config/README.md does not exist",
        "docs/method.md:8: no heading #nowhere on this page",
    ]


def test_heading_anchors_follow_github():
    assert heading_anchors("## Differences from the reference code\n### The partition: one place"
                           ) == {"#differences-from-the-reference-code",
                                 "#the-partition-one-place"}
