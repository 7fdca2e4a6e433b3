"""Look at a run's pages as a person does: headless Chromium renders `report.html` and every
notebook page, saves a full-page screenshot of each and reports what a reader would trip over.

Uses Playwright's Python package driving the system's Chromium (Debian's `chromium`, found on
the PATH or at /usr/bin/chromium; `PLAYWRIGHT_CHROMIUM` names another): no browser download.

    python -m workbench.reporting.browser RUN_FOLDER [--out DIR]   # what `make screenshots` runs
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PageCheck", "chromium_path", "check_pages", "run_pages", "WIDTH"]

WIDTH = 1400  # the viewport: no page may need horizontal scrolling at this width
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# What a reader must never see: a Python traceback or an exception's name.
BAD_TEXT = ("Traceback (most recent call last)", "Exception", "Error in cell")

_MEASURE = """() => {
  const broken = [...document.images]
    .filter(i => !i.complete || i.naturalWidth === 0)
    .map(i => i.getAttribute('alt') || (i.getAttribute('src') || '').slice(0, 40));
  return {
    width: Math.max(document.documentElement.scrollWidth, document.body.scrollWidth),
    broken: broken,
    images: document.images.length,
    text: document.body.innerText,
    title: document.title,
  };
}"""


@dataclass
class PageCheck:
    """What one page showed: its title, width, broken images, text a reader trips over."""

    page: Path
    screenshot: Path
    title: str
    width: int
    images: int
    broken: list[str] = field(default_factory=list)
    bad_text: list[str] = field(default_factory=list)
    text: str = ""

    @property
    def problems(self) -> list[str]:
        out = []
        if self.width > WIDTH:
            out.append(f"{self.page.name}: {self.width} px wide (more than {WIDTH})")
        out += [f"{self.page.name}: broken image {b}" for b in self.broken]
        out += [f"{self.page.name}: shows {t!r}" for t in self.bad_text]
        if not self.title or self.title == "Notebook":
            out.append(f"{self.page.name}: no title")
        return out


def chromium_path() -> str | None:
    """The system Chromium, or None when there is none."""
    named = os.environ.get("PLAYWRIGHT_CHROMIUM")
    for candidate in (named, shutil.which("chromium"), "/usr/bin/chromium"):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def run_pages(run_dir: str | Path) -> list[Path]:
    """`report.html` first, then the notebook pages of the run folder (in their order)."""
    run_dir = Path(run_dir)
    pages = [run_dir / "report.html"] if (run_dir / "report.html").exists() else []
    return pages + sorted(run_dir.glob("[0-9][0-9]_*.html"))


def check_pages(pages: list[Path], out: str | Path) -> list[PageCheck]:
    """Render each page at `WIDTH` px in headless Chromium; a full-page PNG per page in `out`."""
    from playwright.sync_api import sync_playwright

    browser_path = chromium_path()
    if browser_path is None:
        raise RuntimeError("no Chromium: install it with `apt-get install -y chromium`")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    checks = []
    with tempfile.TemporaryDirectory(prefix="workbench-chromium-") as profile:
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                profile,
                executable_path=browser_path,
                headless=True,
                args=FLAGS,
                viewport={"width": WIDTH, "height": 900},
            )
            try:
                page = context.new_page()
                for path in pages:
                    page.goto(Path(path).resolve().as_uri(), wait_until="load")
                    seen = page.evaluate(_MEASURE)
                    shot = out / f"{Path(path).stem}.png"
                    page.screenshot(path=str(shot), full_page=True)
                    checks.append(
                        PageCheck(
                            page=Path(path),
                            screenshot=shot,
                            title=seen["title"],
                            width=int(seen["width"]),
                            images=int(seen["images"]),
                            broken=list(seen["broken"]),
                            bad_text=[t for t in BAD_TEXT if t in seen["text"]],
                            text=seen["text"],
                        )
                    )
            finally:
                context.close()
    return checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", help="a run folder (or <output dir>/latest)")
    parser.add_argument("--out", help="where the PNGs go (default: RUN_DIR/screenshots)")
    args = parser.parse_args(argv)
    run_dir = Path(args.run_dir).resolve()
    pages = run_pages(run_dir)
    if not pages:
        print(f"{run_dir}: no report.html or notebook pages", file=sys.stderr)
        return 2
    checks = check_pages(pages, args.out or run_dir / "screenshots")
    problems = [p for c in checks for p in c.problems]
    for c in checks:
        print(f"{c.screenshot}  ({c.width} px wide, {c.images} images) {c.title}")
    for p in problems:
        print(f"problem: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
