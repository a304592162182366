"""The PDF of a report: the same HTML page printed by headless Chromium (driven by Playwright),
so figures and Japanese text look as they do on screen. Every page carries the marking at the
top and bottom and its page number.

Chromium comes from the system (Debian's ``chromium``, installed by the Makefile with the CJK
fonts), never downloaded at run time: ``$SUPPLYCHAIN_CHROMIUM`` names another executable. It runs
with every background connection switched off, and the page may load nothing but itself: any
other request is refused and fails the build.
"""

from __future__ import annotations

import html
import logging
import os
import shutil
from pathlib import Path

from ..exceptions import SupplyChainError

__all__ = ["chromium", "CHROMIUM_FLAGS", "html_to_pdf"]

log = logging.getLogger(__name__)

#: Environment variable naming the Chromium executable (default: chromium on the PATH).
CHROMIUM_ENV = "SUPPLYCHAIN_CHROMIUM"

#: Flags for a closed network: no background connections, updates, sync or field trials.
CHROMIUM_FLAGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--metrics-recording-only",
    "--no-pings",
]


def chromium() -> str:
    """The Chromium executable: ``$SUPPLYCHAIN_CHROMIUM``, else chromium (or chromium-browser,
    google-chrome) on the PATH. Raises :class:`SupplyChainError` saying how to install it."""
    named = os.environ.get(CHROMIUM_ENV)
    if named:
        if not Path(named).exists():
            raise SupplyChainError(f"${CHROMIUM_ENV} names {named}, which does not exist")
        return named
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise SupplyChainError(
        "the PDF needs Chromium and it was not found: `make demo` installs Debian's chromium and fonts-noto-cjk "
        f"(or set ${CHROMIUM_ENV}); or build without it: --formats html,xlsx"
    )


def launch_args() -> list[str]:
    """Chromium's flags here: the closed-network ones, and --no-sandbox when running as root
    (containers, CI), where Chromium's sandbox cannot start."""
    args = list(CHROMIUM_FLAGS)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")
    return args


def _band(text: str, *, page_numbers: bool) -> str:
    """Header or footer template: the marking (and the page number), in the CJK font."""
    style = "font-family: 'Noto Sans CJK JP', sans-serif; font-size: 9px; width: 100%; margin: 0 12mm; color: #a00; font-weight: bold;"
    number = (
        '<span style="float: right; color: #333; font-weight: normal;"><span class="pageNumber"></span> / <span class="totalPages"></span></span>'
        if page_numbers
        else ""
    )
    return f'<div style="{style}"><span style="display: inline-block; width: 100%; text-align: center;">{html.escape(text)}</span>{number}</div>'


def html_to_pdf(html_path: Path, pdf_path: Path, *, marking: str, timeout_s: float = 300) -> None:
    """Print ``html_path`` to ``pdf_path`` (A4, the marking at the top and bottom of every
    page, page numbers); returns the page count. Fails if the page asks for anything but itself
    or a figure fails to draw."""
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise SupplyChainError(
            "the PDF needs Playwright (pip install 'supplychain[pdf]'; `make demo` installs it); "
            "or build without it: --formats html,xlsx"
        ) from None
    exe = chromium()
    refused: list[str] = []
    own = Path(html_path).resolve().as_uri()

    def guard(route):
        url = route.request.url
        if url == own or url.startswith("data:"):
            route.continue_()
        else:
            refused.append(url)
            route.abort()

    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=exe, args=launch_args(), headless=True)
            try:
                # 1000 CSS px wide, printed at 0.7: fits A4 portrait between 12 mm margins
                page = browser.new_page(viewport={"width": 1000, "height": 1400})
                page.route("**/*", guard)
                page.emulate_media(media="print")
                page.goto(own, wait_until="load", timeout=timeout_s * 1000)
                page.wait_for_function("window.__reportReady === true", timeout=timeout_s * 1000)
                errors = page.evaluate("window.__reportErrors")
                if errors:
                    raise SupplyChainError(f"{html_path.name}: figures failed to draw: {'; '.join(errors[:3])}")
                if refused:
                    raise SupplyChainError(f"{html_path.name} asked for {refused[0]} (a report must load nothing)")
                page.pdf(
                    path=str(pdf_path),
                    format="A4",
                    scale=0.7,
                    print_background=True,
                    display_header_footer=True,
                    header_template=_band(marking, page_numbers=False),
                    footer_template=_band(marking, page_numbers=True),
                    margin={"top": "16mm", "bottom": "16mm", "left": "12mm", "right": "12mm"},
                )
            finally:
                browser.close()
    except PlaywrightError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SupplyChainError(f"printing the PDF with {exe} failed: {first}") from None
