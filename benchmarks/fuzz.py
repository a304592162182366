"""Fuzzing benchmark: generated malformed and hostile inputs through everything that reads a
user's file — the workbook reader, the validators and loader (a whole ingest), the
screening-list loaders and the scenario files — and the hostile files of tests/test_hostile.py
timed and measured.

    python benchmarks/fuzz.py                  # 11,000 cases (about ten minutes on 2 cores)
    python benchmarks/fuzz.py --scale 0.1      # a tenth of each target

Each case ends one of three ways: **accepted** (read or loaded), **refused** (a
``SupplyChainError`` whose message names the file), or a **crash** (any other exception, a
refusal that does not name the file, or an ingest whose file ended ``failed``, the status of an
unexpected error). Crashes are counted, their inputs saved under ``benchmarks/fuzz-crashes/``
and the script exits 1. Cases come from hypothesis (generation only, no shrinking, no example
database), seeded, so a run is repeatable.

The hostile files are each refused in a fresh process, whose peak resident memory is read
after the refusal: the figure bounds what a hostile file costs (the interpreter and libraries
are most of it).
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import platform
import resource
import shutil
import string
import sys
import tempfile
import time
import traceback
from collections import Counter
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import hypothesis.strategies as st  # noqa: E402
from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402

import supplychain as sc  # noqa: E402
from supplychain import scenario, screening  # noqa: E402
from supplychain.exceptions import SupplyChainError  # noqa: E402
from supplychain.survey.read import read_survey  # noqa: E402
from tests.conftest import basic_return, write_csv_return, write_xlsx_return  # noqa: E402

CRASHES = Path(__file__).resolve().parent / "fuzz-crashes"
TARGETS = {  # cases per target at --scale 1
    "reader: mutated workbook bytes": 3000,
    "reader: random workbook": 1000,
    "reader: random CSV folder": 3000,
    "ingest: random cells (validate and load)": 1000,
    "screening-list loaders": 1500,
    "scenario files": 1500,
}

TEXT = string.ascii_letters + string.digits + string.punctuation + " \t\r\n０１２株式会社㈱（）ー　\ufeff\x00"
cells = st.one_of(
    st.none(),
    st.text(alphabet=TEXT, max_size=24),
    st.integers(min_value=-(10**18), max_value=10**18),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.sampled_from(["=1+1", "@SUM(A1)", "-", "1e309", "0x1F", "NaN", "2025-02-30", "１００％", "yes", "no", "\u202e"]),
)


class Tally:
    def __init__(self, name: str, work: Path):
        self.name, self.work = name, work
        self.counts: Counter = Counter()
        self.kinds: Counter = Counter()
        self.t0 = time.perf_counter()

    def run(self, fn, path: Path | None, keep) -> None:
        """Run one case; ``keep`` saves its input when it crashes."""
        try:
            out = fn()
        except SupplyChainError as exc:
            if path is not None and str(path) not in str(exc) and path.name not in str(exc):
                self.crash(f"refusal without the file: {exc}", keep)
            else:
                self.counts["refused"] += 1
                self.kinds[type(exc).__name__] += 1
            return
        except Exception as exc:  # the thing being counted
            self.crash(f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}", keep)
            return
        if isinstance(out, str) and out == "failed":
            self.crash("ingest ended 'failed' (an unexpected error)", keep)
        else:
            self.counts["accepted"] += 1

    def crash(self, why: str, keep) -> None:
        self.counts["crashes"] += 1
        n = self.counts["crashes"]
        if n <= 20:
            folder = CRASHES / self.name.split(":")[0].replace(" ", "-") / f"{n:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "why.txt").write_text(why, "utf-8")
            keep(folder)
        print(f"  CRASH in {self.name}: {why.splitlines()[0][:200]}", flush=True)

    @property
    def cases(self) -> int:
        return sum(self.counts[k] for k in ("accepted", "refused", "crashes"))

    def line(self) -> str:
        c = self.counts
        return (
            f"| {self.name} | {self.cases:,} | {c['accepted']:,} | {c['refused']:,} | {c['crashes']:,} | "
            f"{time.perf_counter() - self.t0:,.1f} |"
        )


def _settings(n: int):
    return settings(
        max_examples=n,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )


def _copy_to(src: Path):
    def keep(folder: Path) -> None:
        if src.is_dir():
            shutil.copytree(src, folder / src.name, dirs_exist_ok=True)
        elif src.exists():
            shutil.copy(src, folder / src.name)

    return keep


def fuzz_mutated_bytes(t: Tally, n: int, good: bytes) -> None:
    edits = st.lists(st.tuples(st.integers(0, len(good) - 1), st.integers(0, 255)), min_size=1, max_size=24)

    @seed(1)
    @_settings(n)
    @given(edits=edits, cut=st.one_of(st.none(), st.integers(0, len(good))))
    def case(edits, cut):
        data = bytearray(good)
        for at, value in edits:
            data[at] = value
        path = t.work / "m.xlsx"
        path.write_bytes(bytes(data[:cut] if cut is not None else data))
        t.run(lambda: read_survey(path), path, _copy_to(path))

    case()


def fuzz_random_workbook(t: Tally, n: int) -> None:
    from openpyxl import Workbook

    names = st.one_of(
        st.sampled_from(["respondent", "companies", "programs", "supply", "回答者", "企業", "供給"]), st.text(TEXT, max_size=12)
    )
    headers = ["company_ref", "corporate_number", "name", "program", "buyer_ref", "supplier_ref", "part", "share", "wave"]
    sheet = st.tuples(
        names,
        st.lists(st.one_of(st.sampled_from(headers), cells), max_size=10),
        st.lists(st.lists(cells, max_size=10), max_size=8),
    )

    @seed(2)
    @_settings(n)
    @given(book=st.lists(sheet, min_size=1, max_size=5))
    def case(book):
        path = t.work / "w.xlsx"
        wb = Workbook()
        wb.remove(wb.active)
        used = set()
        for title, head, rows in book:
            title = "".join(ch for ch in str(title) if ch not in "[]:*?/\\\x00")[:31] or "s"
            if title.lower() in used:
                continue
            used.add(title.lower())
            ws = wb.create_sheet(title)
            for r in [head, *rows]:
                try:
                    ws.append([c if not isinstance(c, str) else c.replace("\x00", "") for c in r])
                except Exception:  # openpyxl refuses some text (control characters): not our reader's case
                    continue
        try:
            wb.save(path)
        except Exception:
            return
        t.run(lambda: read_survey(path), path, _copy_to(path))

    case()


def fuzz_csv_folder(t: Tally, n: int) -> None:
    good = basic_return()

    def as_csv(rows) -> str:
        buf = io.StringIO()
        import csv

        csv.writer(buf).writerows(rows)
        return buf.getvalue()

    file_text = st.one_of(
        st.text(TEXT, max_size=300),
        st.lists(st.lists(cells.map(lambda c: "" if c is None else str(c)), max_size=9), max_size=8).map(as_csv),
        st.sampled_from(sorted(good)).flatmap(
            lambda s: st.lists(st.lists(cells.map(lambda c: "" if c is None else str(c)), max_size=9), max_size=6).map(
                lambda rows, s=s: as_csv([good[s][0], *rows])
            )
        ),
    )
    encodings = st.sampled_from(["utf-8", "utf-8-sig", "cp932", "utf-16", "latin-1"])

    @seed(3)
    @_settings(n)
    @given(
        files=st.dictionaries(
            st.sampled_from(["respondent", "companies", "programs", "supply", "status", "x"]),
            st.tuples(file_text, encodings),
            min_size=1,
            max_size=5,
        )
    )
    def case(files):
        folder = t.work / "csv"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        for name, (text, enc) in files.items():
            (folder / f"{name}.csv").write_bytes(text.encode(enc, errors="replace"))
        t.run(lambda: read_survey(folder), folder, _copy_to(folder))

    case()


def fuzz_ingest(t: Tally, n: int) -> None:
    row8 = st.lists(cells, min_size=8, max_size=8)
    row6 = st.lists(cells, min_size=6, max_size=6)

    @seed(4)
    @_settings(n)
    @given(
        supply=st.lists(row8, max_size=5),
        companies=st.lists(row6, max_size=4),
        respondent=st.lists(cells, min_size=3, max_size=3),
    )
    def case(supply, companies, respondent):
        book = basic_return()
        book["supply"] = [book["supply"][0], *book["supply"][1:2], *supply]
        book["companies"] = [*book["companies"], *companies]
        if respondent[0] is not None:
            book["respondent"] = [book["respondent"][0], respondent]
        folder = t.work / "ret"
        shutil.rmtree(folder, ignore_errors=True)
        write_csv_return(folder, {k: [["" if c is None else c for c in r] for r in v] for k, v in book.items()})
        con = sc.connect()

        def load():
            res = sc.ingest(con, folder)
            f = res.files[0]
            # nothing half-loaded: a refused file leaves no rows
            if f.status == "refused" and con.execute("SELECT count(*) FROM supply").fetchone()[0]:
                raise AssertionError("a refused file left rows behind")
            return f.status

        t.run(load, None, _copy_to(folder))
        con.close()

    case()


def fuzz_screening(t: Tally, n: int) -> None:
    csl_head = "_id,source,entity_number,type,programs,name,title,addresses,federal_register_notice,start_date,end_date,standard_order,license_requirement,license_policy,call_sign,vessel_type,gross_tonnage,gross_registered_tonnage,vessel_flag,vessel_owner,remarks,source_list_url,alt_names,citizenships,dates_of_birth,nationalities,places_of_birth,source_information_url,ids"
    meti_head = "No.,Country or Region,Company or Organization,Also Known As,Type of WMD"
    line = st.text(TEXT, max_size=120)
    json_line = st.one_of(
        line,
        st.recursive(
            st.one_of(st.none(), st.booleans(), st.integers(), st.text(TEXT, max_size=20)),
            lambda kids: st.one_of(
                st.lists(kids, max_size=4),
                st.dictionaries(
                    st.sampled_from(["id", "schema", "caption", "properties", "name", "alias", "country", "topics", "datasets"]),
                    kids,
                    max_size=5,
                ),
            ),
            max_leaves=12,
        ).map(lambda v: json.dumps(v, ensure_ascii=False)),
    )

    @seed(5)
    @_settings(n)
    @given(
        fmt=st.sampled_from(["meti", "csl", "opensanctions"]),
        head=st.booleans(),
        lines=st.lists(line, max_size=8),
        jlines=st.lists(json_line, max_size=6),
    )
    def case(fmt, head, lines, jlines):
        if fmt == "opensanctions":
            path = t.work / "list.json"
            path.write_text("\n".join(jlines), "utf-8")
        else:
            path = t.work / "list.csv"
            first = (csl_head if fmt == "csl" else meti_head) if head else ""
            path.write_text("\n".join([first, *lines]), "utf-8")
        t.run(lambda: screening.read_list(path, format=fmt), path, _copy_to(path))

    case()


def fuzz_scenarios(t: Tally, n: int) -> None:
    leaf = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**12), 10**12),
        st.floats(allow_nan=False),
        st.text(TEXT, max_size=16),
        st.sampled_from(["CN", "JP", "add_supplier", "stockpile", "expedite"]),
    )
    keys = st.sampled_from(
        [
            "name",
            "description",
            "fail",
            "days",
            "mitigations",
            "companies",
            "countries",
            "parts",
            "programs",
            "prefectures",
            "action",
            "part",
            "buyer",
            "program",
            "country",
            "withdrawals",
            "zones",
            "kind",
            "x",
        ]
    )
    value = st.recursive(
        leaf, lambda kids: st.one_of(st.lists(kids, max_size=4), st.dictionaries(keys, kids, max_size=5)), max_leaves=20
    )
    text = st.one_of(value.map(lambda v: json.dumps(v, ensure_ascii=False)), st.text(TEXT, max_size=200))

    @seed(6)
    @_settings(n)
    @given(kind=st.sampled_from([".json", ".yaml"]), body=text)
    def case(kind, body):
        path = t.work / f"s{kind}"
        path.write_text(body, "utf-8", errors="replace")
        t.run(lambda: scenario.read(path), path, _copy_to(path))

    case()


# ---- hostile files, each refused in a fresh process -------------------------------------------


def _refuse(kind: str, path: str, queue) -> None:
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # the interpreter and libraries
    t = time.perf_counter()
    try:
        if kind == "scenario":
            scenario.read(path)
        elif kind == "naive":  # calamine directly, as the reader did before the checks; capped at 4 GiB
            from python_calamine import CalamineWorkbook

            resource.setrlimit(resource.RLIMIT_AS, (4 * 1024**3, 4 * 1024**3))
            wb = CalamineWorkbook.from_path(path)
            cells = sum(len(r) for s in wb.sheet_names for r in wb.get_sheet_by_name(s).to_python(skip_empty_area=False))
            outcome = f"read by calamine directly: {cells:,} cells"
            queue.put((time.perf_counter() - t, base, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, outcome))
            return
        else:
            read_survey(path)
        outcome = "ACCEPTED"
    except SupplyChainError as exc:
        outcome = str(exc).split(": ", 1)[-1][:90]
    except Exception as exc:  # counted as a crash (for the naive reading: what the checks prevent)
        outcome = f"CRASH {type(exc).__name__}: {exc}"[:90]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((time.perf_counter() - t, base, peak, outcome))


def hostile(work: Path) -> list[tuple]:
    from tests.test_hostile import _bomb, _far_cell, _rewrite

    good = write_xlsx_return(work / "good.xlsx", basic_return())
    files = {
        "zip bomb (40 MiB sheet in 50 KB)": ("survey", _rewrite(good, work / "bomb.xlsx", "xl/worksheets/sheet1.xml", _bomb)),
        "cell at XFD1048576": ("survey", _rewrite(good, work / "far.xlsx", "xl/worksheets/sheet2.xml", _far_cell)),
        "2 GB file": ("survey", work / "big.xlsx"),
        "binary renamed .xlsx": ("survey", work / "binary.xlsx"),
        "CSV with 10⁶ columns": ("survey", work / "wide"),
        "YAML billion laughs": ("scenario", work / "lol.yaml"),
        "good workbook (control)": ("survey", good),
        "zip bomb, without the checks (baseline)": ("naive", work / "bomb.xlsx"),
        "cell at XFD1048576, without the checks (baseline)": ("naive", work / "far.xlsx"),
    }
    with open(work / "big.xlsx", "wb") as f:
        f.truncate(2 * 1024**3)
    (work / "binary.xlsx").write_bytes(os.urandom(1 << 20))
    (work / "wide").mkdir(exist_ok=True)
    (work / "wide" / "respondent.csv").write_text(",".join(f"c{i}" for i in range(10**6)) + "\n1\n", "utf-8")
    lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)]
    (work / "lol.yaml").write_text("\n".join([*lines, "name: lol", "fail: {companies: *i}"]) + "\n", "utf-8")
    ctx = multiprocessing.get_context("spawn")
    out = []
    for name, (kind, path) in files.items():
        q = ctx.Queue()
        p = ctx.Process(target=_refuse, args=(kind, str(path), q))
        p.start()
        t = time.perf_counter()
        p.join(timeout=600)
        if p.is_alive():
            p.kill()
            p.join()
        try:
            seconds, base, peak, outcome = q.get(timeout=5)
        except Exception:  # the process died: out of memory, aborted
            seconds, base, peak = time.perf_counter() - t, float("nan"), float("nan")
            outcome = f"CRASH: the process died (exit status {p.exitcode})"
        p_ = Path(path)
        size = p_.stat().st_size if p_.is_file() else sum(f.stat().st_size for f in p_.iterdir())
        out.append((name, size, seconds, base, peak, outcome))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of each target's cases (default 1: 11,000 in all)")
    ap.add_argument("--hostile-only", action="store_true", help="only the hostile files")
    args = ap.parse_args()
    shutil.rmtree(CRASHES, ignore_errors=True)
    print(
        f"# fuzz benchmark — {date.today()} — {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        good = write_xlsx_return(work / "good.xlsx", basic_return()).read_bytes()
        runners = [
            lambda t, n: fuzz_mutated_bytes(t, n, good),
            fuzz_random_workbook,
            fuzz_csv_folder,
            fuzz_ingest,
            fuzz_screening,
            fuzz_scenarios,
        ]
        tallies = []
        print("\n| target | cases | accepted | refused (clear error) | crashes | seconds |\n|---|---:|---:|---:|---:|---:|")
        for (name, n), fn in zip(TARGETS.items(), runners, strict=True):
            if args.hostile_only:
                break
            t = Tally(name, work)
            fn(t, max(1, round(n * args.scale)))
            tallies.append(t)
            print(t.line(), flush=True)
        total = Counter()
        for t in tallies:
            total.update(t.counts)
        cases = sum(t.cases for t in tallies)
        print(f"| **all** | **{cases:,}** | {total['accepted']:,} | {total['refused']:,} | **{total['crashes']:,}** | |")
        kinds = sum((t.kinds for t in tallies), Counter())
        print("\nrefusals by error type: " + ", ".join(f"{k} {v:,}" for k, v in kinds.most_common()))
        print(
            "\n| hostile file | size | refused in (s) | memory before (MB) | peak after (MB) | message |"
            "\n|---|---:|---:|---:|---:|---|"
        )
        bad = 0
        for name, size, seconds, base, peak, outcome in hostile(work / "hostile" if (work / "hostile").mkdir() is None else work):
            shown = f"{size / 1024**2:,.0f} MiB" if size >= 1024**2 else f"{size / 1024:,.1f} KiB"
            print(f"| {name} | {shown} | {seconds:.3f} | {base:,.0f} | {peak:,.0f} | {outcome} |")
            if "baseline" not in name:
                bad += outcome.startswith("CRASH") or (outcome == "ACCEPTED" and "control" not in name)
    if total["crashes"] or bad:
        print(f"\n{total['crashes']} crash(es), {bad} hostile file(s) not refused: inputs in {CRASHES}")
        return 1
    print("\nno crash, every hostile file refused")
    return 0


if __name__ == "__main__":
    sys.exit(main())
