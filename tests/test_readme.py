"""Tests of hgad.reporting.readme: the README's results section and the tables as HTML pages."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest

from hgad.reporting import readme
from hgad.reporting.readme import END, START
from hgad.reporting.tables import write_summary, write_tables

README = f"""# hgad-bench

Intro.

## Results

{START}
stale numbers
{END}

## License

Apache-2.0
"""


def _metrics(path, values):
    categories = {name: {"image_auroc": image, "pixel_auroc": pixel, "num_test": 4}
                  for name, (image, pixel) in values.items()}
    path.write_text(json.dumps({"categories": categories,
                                "provenance": {"commit": "abc123"}}))
    return path


@pytest.fixture
def documents(tmp_path):
    """The Markdown that hgad.reporting.tables writes for a two-seed run of 'demo' and its
    summary."""
    files = {0: _metrics(tmp_path / "m0.json", {"brick": (0.9, 0.8), "moon": (0.7, 0.6)}),
             1: _metrics(tmp_path / "m1.json", {"brick": (0.8, 0.85), "moon": (0.75, 0.65)})}
    table = tmp_path / "demo.md"
    write_tables("demo", files, table, tmp_path / "demo.csv", generated=True)
    summary = tmp_path / "summary.md"
    write_summary({"demo": files}, summary, tmp_path / "summary.csv", generated={"demo"})
    return summary, table


def test_replace_section_is_idempotent():
    once = readme.replace_section(README, "| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert once == readme.replace_section(once, "| a | b |\n|---|---|\n| 1 | 2 |")
    assert "stale" not in once
    assert once.startswith("# hgad-bench\n\nIntro.\n\n## Results\n\n" + START + "\n| a | b |")
    assert once.endswith("| 1 | 2 |\n" + END + "\n\n## License\n\nApache-2.0\n")
    emptied = readme.replace_section(once, "")
    assert f"{START}\n{END}" in emptied


@pytest.mark.parametrize(
    ("text", "message"),
    [("# no markers\n", "expected one '<!-- results:start -->' marker, found 0"),
     (f"{START}\n", "expected one '<!-- results:end -->' marker, found 0"),
     (f"{START}\n{START}\n{END}\n", "found 2"),
     (f"{END}\nx\n{START}\n", "comes before")],
)
def test_replace_section_needs_one_ordered_pair_of_markers(text, message):
    with pytest.raises(readme.ReadmeError, match=message.replace("(", r"\(")):
        readme.replace_section(text, "new")


def test_section_must_not_hold_a_marker():
    with pytest.raises(readme.ReadmeError, match="must not contain"):
        readme.replace_section(README, f"x {END}")


def test_rewrite_readme_in_place_atomically_and_only_on_change(tmp_path, documents):
    section_path = tmp_path / "README_results.md"
    section = readme.write_section(*documents[:1], documents[1:], section_path)
    assert section_path.read_text() == section
    path = tmp_path / "README.md"
    path.write_text(README)
    assert readme.rewrite_readme(path, section) is True
    first = path.read_text()
    assert "stale" not in first and "| brick " in first and "## License" in first
    mtime = path.stat().st_mtime_ns
    assert readme.rewrite_readme(path, section) is False
    assert path.read_text() == first and path.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_rewrite_readme_without_markers_names_the_file(tmp_path):
    path = tmp_path / "README.md"
    path.write_text("# nothing to replace\n")
    with pytest.raises(readme.ReadmeError, match="README.md: expected one"):
        readme.rewrite_readme(path, "new")
    assert path.read_text() == "# nothing to replace\n"


def test_results_section_demotes_headings(documents):
    summary, table = (path.read_text() for path in documents)
    section = readme.results_section([summary, table])
    assert section.startswith(readme.GENERATED_NOTE + "\n\n### HGAD: mean over categories")
    assert "\n### HGAD on demo: image and pixel AUROC\n" in section
    assert "\n# " not in section and "\n## " not in section
    assert section.endswith("|\n") and not section.endswith("\n\n")
    assert readme.demote_headings("# a\n## b\ntext # c\n", 5) == "###### a\n###### b\ntext # c\n"


def test_cli_rewrites_and_reports(tmp_path, documents, capsys):
    from hgad.cli import main

    section = tmp_path / "section.md"
    readme.write_section(documents[0], [documents[1]], section)
    path = tmp_path / "README.md"
    path.write_text(README)
    main(["readme", "--section", str(section), str(path)])
    assert "results section updated" in capsys.readouterr().out
    main(["readme", "--section", str(section), str(path)])
    assert "already up to date" in capsys.readouterr().out
    path.write_text("no markers\n")
    with pytest.raises(SystemExit, match="hgad readme: error: .*README.md: expected one"):
        main(["readme", "--section", str(section), str(path)])
    with pytest.raises(SystemExit, match="missing.md"):
        main(["readme", "--section", str(tmp_path / "missing.md"), str(path)])


class _Cells(HTMLParser):
    """Rows of cell texts, headings, and alignments of an HTML page."""

    def __init__(self):
        super().__init__()
        self.rows, self.headings, self.aligns, self._text = [], [], [], None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        if tag in ("td", "th", "h1", "h2"):
            self._text = ""
            style = dict(attrs).get("style", "")
            if tag in ("td", "th"):
                self.aligns.append(style.removeprefix("text-align: "))

    def handle_data(self, data):
        if self._text is not None:
            self._text += data

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.rows[-1].append(self._text)
        elif tag in ("h1", "h2"):
            self.headings.append(self._text)
        if tag in ("td", "th", "h1", "h2"):
            self._text = None


def test_markdown_to_html_renders_the_table_documents(tmp_path, documents):
    out = tmp_path / "demo.html"
    readme.write_html(documents[1], out)
    page = out.read_text()
    assert page.startswith("<!doctype html>") and "<script" not in page
    assert "<title>HGAD on demo: image and pixel AUROC</title>" in page
    cells = _Cells()
    cells.feed(page)
    assert cells.headings == ["HGAD on demo: image and pixel AUROC"]
    assert cells.rows[0] == ["category", "Image AUROC", "Pixel AUROC", "Image/Pixel AUROC"]
    assert [row[0] for row in cells.rows[1:]] == ["brick", "moon", "mean"]
    assert cells.rows[1][1] == "85.0 ± 7.1"
    assert cells.aligns[:2] == ["left;", "right;"]
    assert "<blockquote>\n<p>The <code>demo</code> dataset is a smoke test" in page


def test_markdown_to_html_escapes_text():
    page = readme.markdown_to_html("# A &lt;b&gt;\n\n| c | n |\n|:-:|--:|\n| x | 1 |\n", "t <1>")
    assert "<title>t &lt;1&gt;</title>" in page
    assert "<th style=\"text-align: center;\">c</th>" in page
    assert "<td style=\"text-align: right;\">1</td>" in page
