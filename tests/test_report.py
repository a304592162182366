"""Reports: the HTML in a real browser (no console error, no request, figures drawn, every
section), the PDF as pictures and text (the marking and page number on every page, Japanese
labels), the XLSX in openpyxl (a planted formula stays text), and the scheduling guarantees
(marking required, lock, atomic publish surviving a kill, --if-changed)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from markupsafe import escape

import supplychain as sc
from supplychain.cli import main
from supplychain.exceptions import SupplyChainError
from supplychain.report.build import _lock
from supplychain.risk.score import score

from .conftest import ROOT, basic_return, copy_db, write_csv_return

MARK = "取扱注意"
PLANTED = '=HYPERLINK("http://example.invalid/x","クリック")'


@pytest.fixture(scope="module")
def report_db(scored_sample, tmp_path_factory):
    return copy_db(scored_sample, tmp_path_factory.mktemp("report-db"))


@pytest.fixture(scope="module")
def sample_report(report_db, tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    con = sc.connect(report_db, read_only=True)
    try:
        res = sc.report.build(con, out=out, marking=MARK)
    finally:
        con.close()
    return res


def _tiny(tmp_path, name=PLANTED) -> Path:
    """The tiny return of conftest, its sole-source supplier renamed to a formula."""
    sheets = basic_return()
    sheets["companies"][4][2] = name
    path = tmp_path / "tiny.duckdb"
    con = sc.connect(path)
    sc.ingest(con, write_csv_return(tmp_path / "ret", sheets))
    score(con, wave=2025, with_esri=False)
    con.close()
    return path


# ---- content on a hand-built case -------------------------------------------------------------


def test_tier_profile_counts_each_supplier_under_its_worst_class(tmp_path):
    # S1 (prime) buys 歯車 from S2 and S3 (multi) and チタン合金 from S4 alone with no
    # alternative and substitutability "no" (sole): tier 1 holds 2 multi and 1 sole
    from supplychain.report.content import tier_profile

    con = sc.connect(_tiny(tmp_path, name="Kavro Alloys Inc."), read_only=True)
    net = sc.supply_network(con, wave=2025)
    prof = tier_profile(net, sc.risk.sourcing(con, wave=2025))
    got = {(int(r.tier), r.classification): int(r.companies) for r in prof.itertuples()}
    assert got == {(1, "multi"): 2, (1, "sole"): 1}


def test_the_content_announces_the_steps_the_progress_bar_counts(tmp_path):
    from supplychain.report.content import PLAN_STEPS, WAVE_STEPS, wave_report

    con = sc.connect(_tiny(tmp_path), read_only=True)
    seen = []
    wave_report(con, wave=2025, marking=MARK, progress=seen.append)
    con.close()
    assert seen == list(WAVE_STEPS) and PLAN_STEPS == ("review",)


def test_a_report_needs_a_marking_and_publishes_nothing_without_one(tmp_path, monkeypatch):
    monkeypatch.delenv("SUPPLYCHAIN_CONFIG", raising=False)
    con = sc.connect(_tiny(tmp_path), read_only=True)
    with pytest.raises(SupplyChainError, match="no marking is configured"):
        sc.report.build(con, out=tmp_path / "out", formats="html")
    assert not (tmp_path / "out").exists() or not [p for p in (tmp_path / "out").iterdir() if p.name != ".report.lock"]
    # a site file sets it
    site = tmp_path / "site.toml"
    site.write_text('[report]\nmarking = "部内限り"\n', "utf-8")
    res = sc.report.build(con, out=tmp_path / "out", formats="html", config=site)
    assert "部内限り" in res.files["html"].read_text("utf-8")


def test_a_planted_formula_is_inert_text_in_the_xlsx(tmp_path):
    from openpyxl import load_workbook

    con = sc.connect(_tiny(tmp_path), read_only=True)
    res = sc.report.build(con, out=tmp_path / "out", formats=("html", "xlsx"), marking=MARK, lang="en")
    wb = load_workbook(res.files["xlsx"])
    hits = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value == PLANTED]
    assert hits, "the planted name should be in the register sheet (company_name)"
    for c in hits:
        assert c.data_type == "s"  # stored as text, not as a formula
        assert c.quotePrefix  # and kept text when edited in Excel
    assert not any(c.data_type == "f" for ws in wb.worksheets for row in ws.iter_rows() for c in row)
    for ws in wb.worksheets:
        assert ws["A1"].value == MARK
        assert MARK in ws.oddHeader.center.text and MARK in ws.oddFooter.center.text
    # in the HTML the same name is text, escaped
    html = res.files["html"].read_text("utf-8")
    assert "=HYPERLINK(&#34;http://example.invalid/x&#34;" in html
    assert '<a href="http://example.invalid' not in html
    # and in the CSV export the cell starts with an apostrophe; numbers stay numbers
    out = tmp_path / "findings.csv"
    assert main(["--db", str(tmp_path / "tiny.duckdb"), "-q", "findings", "--csv", str(out)]) == 0
    rows = list(csv.DictReader(out.read_text("utf-8-sig").splitlines()))
    names = {r["company_name"] for r in rows}
    assert "'" + PLANTED in names and PLANTED not in names
    assert all(not v.startswith(("=", "+", "@")) for r in rows for v in r.values())
    assert {float(r["score"]) for r in rows} == {float(s) for (s,) in con.execute("SELECT score FROM finding").fetchall()}


def test_programs_restrict_every_section(report_db, tmp_path):
    with sc.connect(report_db, read_only=True) as con:
        _programs_restrict(con, tmp_path)


def _programs_restrict(con, tmp_path):
    programs = sc.summary.programs(con, wave=2025)["program"].tolist()
    keep, drop = programs[0], programs[1:]
    res = sc.report.build(con, out=tmp_path, formats="html", programs=[keep], marking=MARK, lang="en")
    html = res.files["html"].read_text("utf-8")
    assert f'id="program-{keep}"' in html
    for p in drop:
        assert f'id="program-{p}"' not in html
    with pytest.raises(SupplyChainError, match="not programs of wave"):
        sc.report.build(con, out=tmp_path, formats="html", programs=["NO-SUCH"], marking=MARK)


# ---- scheduling: lock, atomic publish, if-changed ---------------------------------------------


def test_a_second_run_refuses_while_the_lock_is_held(tmp_path):
    con = sc.connect(_tiny(tmp_path), read_only=True)
    out = tmp_path / "out"
    out.mkdir()
    with _lock(out, 0):
        t = time.monotonic()
        with pytest.raises(sc.report.ReportBusy, match="another report run holds"):
            sc.report.build(con, out=out, formats="html", marking=MARK, wait=0.6)
        assert time.monotonic() - t >= 0.6  # it waited before refusing
        con.close()
        # the command: exit code 5 and one line
        proc = subprocess.run(
            [sys.executable, "-m", "supplychain.cli", "--db", str(tmp_path / "tiny.duckdb"), "-q", "report", "--out", str(out)]
            + ["--formats", "html", "--marking", MARK],
            capture_output=True,
            text=True,
        )
    assert proc.returncode == 5, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "another report run holds" in proc.stderr
    assert not [p for p in out.iterdir() if p.is_dir()]


def test_if_changed_skips_only_when_data_and_parameters_are_the_same(tmp_path):
    path = _tiny(tmp_path)
    out = tmp_path / "out"
    con = sc.connect(path)
    first = sc.report.build(con, out=out, formats="html", marking=MARK)
    again = sc.report.build(con, out=out, formats="html", marking=MARK, if_changed=True)
    assert again.skipped and again.path == first.path
    other = sc.report.build(con, out=out, formats="html", marking=MARK, lang="en", if_changed=True)
    assert not other.skipped  # a parameter changed
    fid = sc.risk.findings(con, wave=2025)["finding_id"].iloc[0]
    sc.risk.set_finding(con, fid, status="accepted", note="risk accepted for the test", user="tester")
    changed = sc.report.build(con, out=out, formats="html", marking=MARK, lang="en", if_changed=True)
    assert not changed.skipped  # the data changed (a triage)
    assert (out / "latest").resolve() == changed.path
    con.close()


def test_killed_mid_build_the_previous_report_stands_and_nothing_half_built_is_published(report_db, sample_report, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    # the previous report: the sample's, published here as a run would have
    before = Path(shutil.copytree(sample_report.path, out / sample_report.path.name))
    os.symlink(before.name, out / "latest")
    manifest = json.loads((before / "manifest.json").read_text("utf-8"))
    cmd = [sys.executable, "-m", "supplychain.cli", "--db", str(report_db), "-q", "report", "--out", str(out)]
    proc = subprocess.Popen(cmd + ["--marking", MARK], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not list(out.glob(".building-*")):  # writing has begun
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    published = sorted(p.name for p in out.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))
    assert published == [before.name]
    assert (out / "latest").resolve() == before
    for f in manifest["files"].values():  # the previous report is intact, byte for byte
        assert hashlib.sha256((before / f["name"]).read_bytes()).hexdigest() == f["sha256"]
    # the lock died with the process; the next run clears the leftovers and publishes
    again = subprocess.run(
        cmd + ["--formats", "html", "--marking", "unmarked", "--lang", "en"], capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0, again.stderr
    assert not list(out.glob(".building-*"))
    now = (out / "latest").resolve()
    assert now != before and f"report: {now}" in again.stdout
    assert "UNMARKED (synthetic data)" in (now / "report-wave2025.html").read_text("utf-8")


def test_a_failing_run_exits_non_zero_with_one_line_and_logs_the_reason(tmp_path):
    out = tmp_path / "out"
    db = tmp_path / "empty.duckdb"
    sc.connect(db).close()
    proc = subprocess.run(
        [sys.executable, "-m", "supplychain.cli", "--db", str(db), "-q", "report", "--out", str(out), "--marking", MARK],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and "no risk register" in proc.stderr
    assert "no risk register" in (out / "report.log").read_text("utf-8")
    assert not [p for p in out.iterdir() if p.is_dir()]


# ---- the sample report in every format --------------------------------------------------------

SECTIONS = ("summary", "top-findings", "programs", "scenarios", "plan-reviews", "changes", "data-quality", "footer")
PROGRAM_PARTS = ("network", "sourcing", "foreign", "early-warning", "ttr")


def test_the_sample_report_has_every_section_and_a_footer(sample_report):
    html = sample_report.files["html"].read_text("utf-8")
    for key in SECTIONS:
        assert f'id="{key}"' in html, key
    con_programs = ["DD-9", "FX-3", "SAM-5", "TK-12"]
    for p in con_programs:
        for part in PROGRAM_PARTS:
            assert f'id="program-{p}-{part}"' in html, (p, part)
    # the marking above and below every top-level section and the footer
    assert html.count(f'<div class="marking">{MARK}</div>') >= 2 * (len(SECTIONS) + 1)
    manifest = sample_report.manifest
    for k in ("調査回", "データのハッシュ", "ソフトウェア版", "パラメータ"):
        assert k in html
    assert manifest["data_hash"] in html and f"supplychain {sc.__version__}" in html
    assert "前回調査からの変化" in html and "調査回 2024 から 2025 へ" in html
    assert "<script src" not in html and "http://" not in html.split("<script>")[0]


def test_the_html_loads_offline_in_chromium_with_figures_drawn(sample_report, tmp_path):
    from PIL import Image
    from playwright.sync_api import sync_playwright

    from supplychain.report.pdf import chromium, launch_args

    path = sample_report.files["html"]
    requests, errors = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=launch_args(), headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri(), wait_until="load")
        page.wait_for_function("window.__reportReady === true", timeout=60_000)
        assert page.evaluate("window.__reportErrors") == []
        figures = page.locator("div.figure")
        n = figures.count()
        assert n >= 4 * 3 + 3  # per program: tier profile, network, exposure; and the scenarios
        for i in (0, 1, n - 1):
            fig = figures.nth(i)
            fig.scroll_into_view_if_needed()
            assert fig.locator(".main-svg").count() >= 1
            shot = Image.open(io.BytesIO(fig.screenshot())).convert("L")
            lo, hi = shot.getextrema()
            assert hi - lo > 100, f"figure {i} looks blank"
            # more than a frame: a good share of the region is drawn
            drawn = sum(shot.histogram()[:200])
            assert drawn > 0.01 * shot.width * shot.height
        page.screenshot(path=str(tmp_path / "report.png"), full_page=False)
        browser.close()
    assert errors == []
    assert requests == [path.as_uri()], requests


def _pdf_pages(pdf: Path, folder: Path) -> list[Path]:
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(folder / "page")], check=True)
    return sorted(folder.glob("page-*.png"))


def test_the_pdf_carries_the_marking_and_page_number_on_every_page(sample_report, tmp_path):
    from PIL import Image

    pdf = sample_report.files["pdf"]
    pages = _pdf_pages(pdf, tmp_path)
    assert len(pages) >= 10
    for i, png in enumerate(pages, 1):
        img = Image.open(png).convert("L")
        w, h = img.size
        top, bottom = img.crop((0, 0, w, int(h * 0.05))), img.crop((0, int(h * 0.95), w, h))
        assert top.getextrema()[0] < 150 and bottom.getextrema()[0] < 150, f"page {i}: no marking drawn"
        text = subprocess.run(
            ["pdftotext", "-layout", "-f", str(i), "-l", str(i), str(pdf), "-"], capture_output=True, text=True
        ).stdout
        lines = [s.strip() for s in text.strip().splitlines() if s.strip()]
        assert lines[0] == MARK, f"page {i} starts with {lines[0]!r}"
        assert MARK in lines[-1] or MARK in lines[-2]
        assert f"{i} / {len(pages)}" in text
    whole = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
    for word in ("サプライチェーン・リスク報告", "海外依存", "唯一供給源", "復旧所要期間", "データ品質"):
        assert word in whole
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True).stdout
    assert "yes" in fonts  # fonts embedded: the Japanese glyphs travel with the file


def test_the_xlsx_holds_the_whole_register(sample_report, report_db):
    from openpyxl import load_workbook

    wb = load_workbook(sample_report.files["xlsx"], read_only=True)
    assert {"register", "programs", "scenarios", "plans", "changes", "coverage"} <= set(wb.sheetnames)
    with sc.connect(report_db, read_only=True) as con:
        stored = {fid for (fid,) in con.execute("SELECT finding_id FROM finding WHERE wave = 2025").fetchall()}
    rows = list(wb["register"].iter_rows(min_row=5, values_only=True))
    assert len(rows) == len(stored)
    assert {r[0] for r in rows} == stored


def test_a_plan_review_pack_in_three_formats(report_db, tmp_path):
    with sc.connect(report_db, read_only=True) as con:
        pid = con.execute("SELECT min(plan_id) FROM plan").fetchone()[0]
        res = sc.report.build_plan(con, pid, out=tmp_path, marking=MARK, lang="en")
        review = sc.plan.review(con, pid, wave=2025)
    assert set(res.files) == {"html", "pdf", "xlsx"}
    html = res.files["html"].read_text("utf-8")
    assert pid in html and "Stable Manufacturing Plan review" in html and 'id="plan-findings"' in html
    assert str(escape(review.text())) in html  # the review's own paragraph, worked out by plan.review
    assert (tmp_path / f"latest-plan-{pid}").resolve() == res.path
    text = subprocess.run(["pdftotext", str(res.files["pdf"]), "-"], capture_output=True, text=True).stdout
    assert MARK in text and pid in text


def _supplychain_args(command: str) -> list[str]:
    """The arguments given to `supplychain` in a shell command line (environment assignments
    before it and redirections after it left out)."""
    words = shlex.split(command)
    start = next(i for i, w in enumerate(words) if w.endswith("/supplychain")) + 1
    args = []
    for w in words[start:]:
        if w.startswith((">", "2>")):
            break
        args.append(w)
    return args


def test_the_scheduling_doc_gives_a_cron_line_and_units_the_cli_accepts():
    from supplychain.cli import build_parser

    text = (ROOT / "docs" / "scheduling.md").read_text("utf-8")
    cron = re.search(r"```cron\n(.+?)\n```", text, re.S).group(1).strip()
    fields = cron.split(None, 5)
    assert len(fields) == 6 and all(re.fullmatch(r"[\d*/,-]+", f) for f in fields[:5]), fields[:5]
    parsed = []
    for command in re.split(r";|&&", fields[5]):
        if "bin/supplychain " in command:
            parsed.append(build_parser().parse_args(_supplychain_args(command)))
    assert [a.command for a in parsed] == ["score", "report"]
    assert parsed[1].if_changed and parsed[1].wait == 600
    service = re.search(r"# /etc/systemd/system/supplychain-report.service\n(.+?)\n```", text, re.S).group(1)
    timer = re.search(r"# /etc/systemd/system/supplychain-report.timer\n(.+?)\n```", text, re.S).group(1)
    starts = [line.split("=", 1)[1] for line in service.splitlines() if line.startswith("ExecStart=")]
    assert [build_parser().parse_args(_supplychain_args(s)).command for s in starts] == ["score", "report"]
    assert "Type=oneshot" in service and "PrivateNetwork=yes" in service
    assert "OnCalendar=" in timer and "WantedBy=timers.target" in timer
