"""The Snakemake report of one tiny workflow run: every table and figure in it, and it renders.

The session's tiny demo run (``tiny_run``, tests/conftest.py) feeds every test here:
``snakemake --report`` as HTML and as ZIP, the README section, and headless Chromium (Debian
packages ``chromium`` and ``chromium-driver``, see scripts/install-system-deps.sh). Without
Chromium the rendering tests skip, saying so (with ``CI=true`` they fail).

The report is a JavaScript app: its tables and figures appear only when an item is clicked. The
rendering check therefore loads a copy of the report with two scripts added: a hook, first in
<head>, that records console errors, uncaught exceptions and failed resource loads; and a
driver that, once the app is up, opens the dataset's "Tables" and clicks the AUROC table, then
opens "Figures" and clicks a figure, and writes what it saw into the DOM. Chromium's
``--dump-dom`` output then holds the shown table (the iframe's data) and the findings.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from urllib.parse import unquote

import pandas as pd
import pytest
from needs import missing
from report_contents import decode_data_uri, embedded, snakemake_report
from workflow_runner import REPO, TINY_RUN

from hgad.reporting.readme import END, START, rewrite_readme

DATASET = "demo"
CATEGORIES = ("brick", "gravel")
SEEDS = TINY_RUN["seeds"]
TABLES = [f"results/tables/{name}.{ext}" for name in (DATASET, f"{DATASET}_all_metrics", "summary")
          for ext in ("html", "csv")]
FIGURES = ([f"results/plots/{DATASET}_{kind}.png" for kind in ("auroc", "loss")]
           + [f"results/plots/{DATASET}_seed{seed}_{kind}.png" for seed in SEEDS
              for kind in ("roc_pro", "qualitative")])
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# A console line of Chromium's log that reports an error (messages of every level are logged as
# INFO:CONSOLE, so the text decides); the hook's own lines start with CHECK_PREFIX.
CHECK_PREFIX = "HGAD-REPORT-CHECK"
CONSOLE_ERROR = re.compile(rf"CONSOLE.*(error|uncaught|{CHECK_PREFIX})", re.IGNORECASE)

HOOK = f"""<script>
window.__reportErrors = [];
(function () {{
  function record(kind, text) {{
    window.__reportErrors.push(kind + ": " + text);
    console.log("{CHECK_PREFIX} " + kind + ": " + text);
  }}
  const consoleError = console.error.bind(console);
  console.error = function (...args) {{
    record("console.error", args.map(String).join(" "));
    consoleError(...args);
  }};
  window.addEventListener("error", function (event) {{
    const target = event.target && (event.target.src || event.target.href);
    record(target ? "resource failed" : "uncaught", target || event.message);
  }}, true);
  window.addEventListener("unhandledrejection", function (event) {{
    record("unhandled rejection", String(event.reason));
  }});
}})();
</script>"""

DRIVER = """<script>
(function () {
  const found = {};
  const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  function clickRow(label) {
    const row = Array.from(document.querySelectorAll("nav tr")).find(
      (tr) => tr.cells.length > 1 && tr.cells[0].textContent.trim() === label);
    if (row) { row.querySelector("a").click(); }
    return Boolean(row);
  }
  function clickMenu(label) {
    const item = Array.from(document.querySelectorAll("nav li > a")).find(
      (a) => a.textContent.trim() === label);
    if (item) { item.click(); }
    return Boolean(item);
  }
  async function drive() {
    await wait(200);
    found.app = typeof app === "object" && document.querySelector("nav") !== null;
    found.menu = clickMenu("__DATASET__");
    await wait(300);
    found.tables = clickMenu("Tables");
    await wait(300);
    found.table_clicked = clickRow("AUROC per category");
    await wait(500);
    const frame = document.querySelector("iframe");
    found.iframe = frame ? frame.getAttribute("src") : null;
    app.showCategory("__DATASET__");  // what the breadcrumb does
    await wait(300);
    found.figures = clickMenu("Figures");
    await wait(300);
    found.figure_clicked = clickRow("ROC and PRO curves (seed 0)");
    await wait(800);
    const image = Array.from(document.querySelectorAll("img")).find(
      (img) => img.closest("nav") === null);
    found.image_width = image ? image.naturalWidth : 0;
  }
  window.addEventListener("load", function () {
    drive().catch((error) => { found.driver_error = String(error); }).finally(function () {
      found.errors = window.__reportErrors;
      const out = document.createElement("pre");
      out.id = "report-check";
      out.textContent = JSON.stringify(found);
      document.body.appendChild(out);
    });
  });
})();
</script>"""


# --- helpers ---------------------------------------------------------------------------------

def need_chromium() -> None:
    if not Path(CHROMIUM).exists():
        missing(f"{CHROMIUM} is missing: install Debian's chromium and chromium-driver"
                " (scripts/install-system-deps.sh) to check that the report renders")


def dump_dom(page: Path, profile: Path) -> tuple[str, list[str]]:
    """Chromium's DOM of ``page`` after its scripts ran, and the console lines reporting errors."""
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=10000", "--dump-dom", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if CONSOLE_ERROR.search(line)]
    return result.stdout, errors


def with_check_scripts(report_html: str) -> str:
    assert report_html.count("<head>") >= 1 and "</body>" in report_html
    page = report_html.replace("<head>", "<head>\n" + HOOK, 1)
    driver = DRIVER.replace("__DATASET__", DATASET)
    head, tail = page.rsplit("</body>", 1)
    return f"{head}{driver}\n</body>{tail}"


def check_findings(dom: str) -> dict:
    match = re.search(r'<pre id="report-check">(.*?)</pre>', dom, re.DOTALL)
    assert match, "the driver never finished: the report's scripts did not run to the end"
    return json.loads(html.unescape(match.group(1)))


def expected_cells() -> list[str]:
    """Strings the rendered AUROC table must hold: category names and a formatted value."""
    return [f">{category}</td>" for category in (*CATEGORIES, "mean")]


# --- the run ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def run(tiny_run) -> Path:
    return tiny_run.folder


@pytest.fixture(scope="module")
def reports(run, tmp_path_factory) -> dict[str, Path]:
    """The run's report as HTML and as ZIP, written outside the run's folder."""
    folder = tmp_path_factory.mktemp("reports")
    paths = {}
    for suffix in ("html", "zip"):
        path = folder / f"report.{suffix}"
        result = snakemake_report(run, path)
        assert result.returncode == 0, result.stderr[-4000:]
        assert path.stat().st_size > 10_000
        paths[suffix] = path
    return paths


@pytest.fixture(scope="module")
def auroc_value(run) -> str:
    """brick's image AUROC as the table prints it (mean over seeds, percent, one decimal)."""
    numbers = pd.read_csv(run / f"results/tables/{DATASET}.csv", index_col="category")
    return f"{100 * numbers.loc['brick', 'image_auroc_mean']:.1f}"


# --- tests -----------------------------------------------------------------------------------

def test_run_writes_every_table_and_figure(run):
    for path in TABLES + FIGURES:
        assert (run / path).stat().st_size > 100, path
        if path.endswith(".png"):
            pdf = (run / path).with_suffix(".pdf")
            assert pdf.read_bytes().startswith(b"%PDF-"), pdf
    summary = pd.read_csv(run / "results/tables/summary.csv", index_col="dataset")
    assert list(summary.index) == [DATASET, f"{DATASET} (kNN baseline)"]
    # mean over categories within each seed (metrics.json's "mean"), then over seeds
    seed_means = [json.loads((run / f"results/{DATASET}/seed{seed}/metrics.json").read_text())
                  ["mean"]["image_auroc"] for seed in SEEDS]
    assert summary.loc[DATASET, "image_auroc_mean"] == pytest.approx(
        sum(seed_means) / len(seed_means), abs=1e-6)
    assert "# HGAD: mean over categories per dataset" in (
        run / "results/tables/summary.md").read_text()


def test_report_holds_every_table_and_figure_with_a_caption(run, reports):
    report_html = reports["html"].read_text(encoding="utf-8")
    results = embedded(report_html, "results")
    assert set(results) == set(TABLES + FIGURES)
    for path, entry in results.items():
        assert entry["caption"].strip(), f"{path} has no caption"
        assert entry["data_uri"].startswith("data:"), path
    assert "demo" in results[f"results/tables/{DATASET}.html"]["caption"]
    categories = embedded(report_html, "categories")
    assert set(categories) == {DATASET, "Summary"}
    assert set(categories[DATASET]) == {"Tables", "Figures"}
    assert set(categories["Summary"]["Tables"]) == {"results/tables/summary.html",
                                                    "results/tables/summary.csv"}
    assert "HGAD (hierarchical Gaussian mixture" in report_html  # the workflow description


def test_report_tables_are_html_pages_of_the_numbers(run, reports, auroc_value):
    results = embedded(reports["html"].read_text(encoding="utf-8"), "results")
    table = results[f"results/tables/{DATASET}.html"]
    assert table["mime_type"] == "text/html"  # shown in the report, not just downloadable
    page = decode_data_uri(table["data_uri"])
    assert "<table>" in page and auroc_value in page
    for cell in expected_cells():
        assert cell in page
    summary = decode_data_uri(results["results/tables/summary.html"]["data_uri"])
    assert "<table>" in summary and f">{DATASET}</td>" in summary


def test_zip_report_holds_the_data_files(run, reports):
    with zipfile.ZipFile(reports["zip"]) as archive:
        names = archive.namelist()
        assert "report/report.html" in names
        for path in TABLES + FIGURES:
            assert any(name.endswith("/" + Path(path).name) for name in names), path
        html_name = next(n for n in names if n.endswith(f"/{DATASET}.html"))
        assert "<table>" in archive.read(html_name).decode("utf-8")


def test_readme_rewrite_from_the_run_is_idempotent(run, tmp_path):
    section = (run / "results/README_results.md").read_text(encoding="utf-8")
    assert "### HGAD on demo: image and pixel AUROC" in section
    assert "### HGAD: mean over categories per dataset" in section
    readme = tmp_path / "README.md"
    readme.write_text(
        f"# hgad-bench\n\n## Results\n\n{START}\nstale section\n{END}\n\n## License\n")
    assert rewrite_readme(readme, section) is True
    once = readme.read_text(encoding="utf-8")
    assert "stale section" not in once and "| brick " in once and once.endswith("## License\n")
    assert rewrite_readme(readme, section) is False
    assert readme.read_text(encoding="utf-8") == once
    cli = subprocess.run([sys.executable, "-m", "hgad.cli", "readme", "--section",
                          str(run / "results/README_results.md"), str(readme)],
                         capture_output=True, text=True, cwd=REPO)
    assert cli.returncode == 0, cli.stderr
    assert "already up to date" in cli.stdout and readme.read_text(encoding="utf-8") == once


def test_readme_rule_rewrites_the_workdirs_readme(tiny_run, tmp_path):
    run = tiny_run.copy(tmp_path / "run")
    readme = run.folder / "README.md"
    readme.write_text(f"# mine\n\n{START}\nstale section\n{END}\n")
    result = run.snakemake("--forcerun", "readme", "readme")
    assert result.returncode == 0, result.stderr[-4000:]
    text = readme.read_text(encoding="utf-8")
    assert "stale section" not in text and "| brick " in text
    section = (run.folder / "results/README_results.md").read_text(encoding="utf-8")
    assert section.strip() in text


@pytest.mark.root
def test_error_check_catches_console_errors(tmp_path):
    """The check itself: a page with a console error and an exception fails it."""
    need_chromium()
    page = tmp_path / "broken.html"
    page.write_text("<html><head></head><body><p>broken</p>"
                    "<script>console.error('deliberate');</script>"
                    "<script>notDefinedAnywhere();</script></body></html>")
    _, errors = dump_dom(page, tmp_path / "profile")
    assert any("deliberate" in line for line in errors), errors
    assert any("Uncaught ReferenceError" in line for line in errors), errors


@pytest.mark.root
@pytest.mark.parametrize("kind", ["html", "zip"])
def test_report_renders_in_chromium_without_console_errors(run, reports, tmp_path, kind,
                                                           auroc_value):
    need_chromium()
    if kind == "html":
        original = reports["html"]
    else:
        with zipfile.ZipFile(reports["zip"]) as archive:
            archive.extractall(tmp_path / "unzipped")
        original = tmp_path / "unzipped/report/report.html"
    checked = original.with_name("report.check.html")  # beside it: the ZIP's links are relative
    checked.write_text(with_check_scripts(original.read_text(encoding="utf-8")),
                       encoding="utf-8")
    dom, console_errors = dump_dom(checked, tmp_path / "profile")

    assert console_errors == [], "\n".join(console_errors)
    findings = check_findings(dom)
    assert findings.get("driver_error") is None, findings
    assert findings["errors"] == [], findings["errors"]
    assert findings["app"], "the report app did not render"
    assert ">demo<" in dom and ">Summary<" in dom  # the categories in the menu
    assert findings["menu"] and findings["tables"] and findings["figures"], findings
    assert findings["table_clicked"], "no 'AUROC per category' row under demo / Tables"
    assert findings["figure_clicked"], "no 'ROC and PRO curves (seed 0)' row under Figures"
    assert findings["image_width"] > 300, "the figure did not load"

    # The table shown in the iframe, rendered by Chromium on its own.
    source = unquote(findings["iframe"] or "")
    if kind == "html":
        table_page = tmp_path / "table.html"
        table_page.write_text(decode_data_uri(source), encoding="utf-8")
    else:
        assert source.startswith("data/raw/") and source.endswith(f"/{DATASET}.html"), source
        table_page = original.parent / source
    table_dom, table_errors = dump_dom(table_page, tmp_path / "profile")
    assert table_errors == [], "\n".join(table_errors)
    assert "<table>" in table_dom and auroc_value in table_dom
    for cell in expected_cells():
        assert cell in table_dom
