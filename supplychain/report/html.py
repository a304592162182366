"""The report as one self-contained HTML file: styles, figure data and plotly.js inline, nothing
fetched (the page opens from a USB stick on an air-gapped machine). Figures are plotted by one
loader script, which sets ``window.__reportReady`` once every figure is drawn (the PDF printer
waits for it) and ``window.__reportErrors`` with any figure that failed."""

from __future__ import annotations

import functools
import math
from importlib import resources

import pandas as pd
from markupsafe import Markup

from ._labels import label
from .content import Report, marking_text

__all__ = ["render_html", "cell_text", "missing"]

_LOADER = """
(function () {
  window.__reportReady = false;
  window.__reportErrors = [];
  var config = {displaylogo: false, responsive: true, showLink: false, showSendToCloud: false, showEditInChartStudio: false};
  var divs = Array.prototype.slice.call(document.querySelectorAll("div.figure"));
  var jobs = divs.map(function (div) {
    try {
      var fig = JSON.parse(document.getElementById(div.id + "-data").textContent);
      return Plotly.newPlot(div, fig.data, fig.layout, config).catch(function (e) {
        window.__reportErrors.push(div.id + ": " + e);
      });
    } catch (e) {
      window.__reportErrors.push(div.id + ": " + e);
      return Promise.resolve();
    }
  });
  Promise.all(jobs).then(function () { window.__reportReady = true; });
})();
"""


@functools.cache
def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    # a script element ends at the first "</script": plotly.js holds none, but be sure
    return get_plotlyjs().replace("</script", "<\\/script")


@functools.cache
def _template():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("supplychain.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    return env.get_template("report.html.j2")


def _css() -> str:
    return resources.files("supplychain.report").joinpath("templates/report.css").read_text("utf-8")


def missing(v) -> bool:
    """None, pandas NA/NaT or a float NaN."""
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v))


def cell_text(v, fmt: str) -> str:
    """A value as the report prints it (``-`` where missing).

    >>> cell_text(0.1234, "pct"), cell_text(123456789.0, "yen"), cell_text(12.0, "days"), cell_text(None, "int")
    ('12.3%', '¥123,456,789', '12', '-')
    """
    if missing(v):
        return "-"
    if fmt == "int":
        return f"{int(v):,}"
    if fmt == "float":
        return f"{float(v):.2f}"
    if fmt == "pct":
        return f"{float(v):.1%}"
    if fmt == "yen":
        return f"¥{float(v):,.0f}"
    if fmt == "days":
        return "∞" if math.isinf(float(v)) else f"{float(v):,.0f}"
    if fmt == "bool":
        return "✔" if bool(v) else ""
    return str(v)


def _rows(frame: pd.DataFrame, columns):
    """Rows of (text, format) for the template (object arrays: Arrow strings iterate slowly)."""
    cols = [frame[c].to_numpy(dtype=object, na_value=None) for c, _ in columns]
    fmts = [f for _, f in columns]
    for i in range(len(frame)):
        yield [(cell_text(col[i], f), f) for col, f in zip(cols, fmts)]


def _figure_json(block) -> str:
    fig = block.figure
    text = fig.to_json(validate=False, pretty=False, engine="json")
    # inside <script type="application/json"> nothing may close or re-open a script: every "<"
    # (only ever inside a JSON string: names as reported) becomes its JSON escape
    return Markup(text.replace("<", "\\u003c"))


def render_html(report: Report, footer: list[tuple[str, str]]) -> str:
    """The report as one HTML page; ``footer`` is (label, value) rows (wave, parameters, version,
    data hash, ...)."""
    lang = report.lang
    marking = marking_text(report.marking, lang)
    by_word = {label(k, lang): k for k in ("critical", "high", "medium", "low")}
    subtitle = " · ".join(f"{k} {v}" for k, v in footer[:2])
    html = _template().render(
        lang=lang,
        title=report.title,
        subtitle=subtitle,
        marking=marking,
        sections=report.sections,
        meta=report.meta,
        footer=footer,
        css=Markup(_css()),
        plotly_js=Markup(_plotly_js()),
        loader_js=Markup(_LOADER),
        L=lambda key, **fmt: label(key, lang, **fmt),
        rows=_rows,
        figure_json=_figure_json,
        severity_words=set(by_word),
        severity_class=lambda v: by_word.get(v, "none"),
    )
    # the scripts are inline by construction: fail loudly if a template change ever adds a source
    if "<script src" in html or '<link rel="stylesheet"' in html:
        raise AssertionError("report HTML must not reference external scripts or styles")
    return html
