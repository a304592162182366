"""Scheduled risk reports (DESIGN §7): one self-contained HTML file, its PDF and an XLSX of the
register and key tables, in a dated folder published atomically, with the configured marking on
every section, page and sheet.

>>> import supplychain as sc
>>> con = sc.connect()
>>> sc.report.build(con, out="reports/")   # doctest: +SKIP
ReportResult(reports/2026-11-27_061500_wave2025: html, pdf, xlsx)
"""

from .build import FORMATS, LATEST, ReportBusy, ReportResult, build, build_plan

__all__ = ["build", "build_plan", "ReportResult", "ReportBusy", "FORMATS", "LATEST"]
