"""The book: notebooks as stored, a strict build of the whole site, and the site in a real browser.

The tests marked ``book`` share one build (a session fixture): ``jupyter-book build`` with ``-W``
(a warning is an error), every page (``--all``), and a fresh execution cache, so every notebook
in the table of contents runs top to bottom. ``DLOPT_LAB_STRICT=1`` makes a solution cell whose
exercise check fails raise, so a broken check fails the build.

The browser tests drive Debian's Chromium (``/usr/bin/chromium``) with Playwright's Python
package, which downloads no browser. Without Chromium they are skipped, unless
``DLOPT_LAB_REQUIRE_BROWSER=1`` (set by CI), where a missing browser is a failure.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
REPO_URL = CONFIG["repository"]["url"]
CHROMIUM = "/usr/bin/chromium"


def _toc_files() -> list[str]:
    files = [TOC["root"]]
    for part in TOC.get("parts", []):
        for chapter in part["chapters"]:
            files.append(chapter["file"])
            files.extend(s["file"] for s in chapter.get("sections", []))
    return files


def _source(doc: str) -> Path:
    for suffix in (".ipynb", ".md"):
        if (ROOT / (doc + suffix)).exists():
            return ROOT / (doc + suffix)
    raise FileNotFoundError(doc)


PAGES = _toc_files()
NOTEBOOKS = [d for d in PAGES if _source(d).suffix == ".ipynb"]


# --------------------------------------------------------------------------------------------
# The sources, as stored (fast: no build)
# --------------------------------------------------------------------------------------------


def test_toc_files_exist_and_nothing_else_is_a_page():
    for doc in PAGES:
        assert _source(doc).exists()
    stray = [
        p.relative_to(ROOT).with_suffix("").as_posix()
        for p in (ROOT / "book").glob("*")
        if p.suffix in (".md", ".ipynb") and p.relative_to(ROOT).with_suffix("").as_posix() not in PAGES
    ]
    assert not stray, f"files in book/ that the toc does not list: {stray}"
    assert CONFIG["only_build_toc_files"] is True


@pytest.mark.parametrize("doc", NOTEBOOKS)
def test_notebook_is_stored_without_outputs(doc):
    nb = json.loads(_source(doc).read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{doc}: a code cell has outputs"
            assert cell.get("execution_count") is None, f"{doc}: a code cell has an execution count"


@pytest.mark.parametrize("doc", NOTEBOOKS)
def test_notebook_setup_cell_installs_from_the_configured_repository(doc):
    nb = json.loads(_source(doc).read_text())
    code_cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    setup = code_cells[0]
    assert "setup" in setup["metadata"].get("tags", []), f"{doc}: the first code cell is not tagged setup"
    src = "".join(setup["source"])
    assert f'REPO = "{REPO_URL}"' in src, f"{doc}: the setup cell's REPO differs from _config.yml"
    assert 'find_spec("dlopt_lab") is None' in src, f"{doc}: the setup cell must install only when missing"
    assert "set_seed(" in src, f"{doc}: the setup cell must set a seed"


CHAPTERS = [c["file"] for part in TOC["parts"] if part["caption"] not in ("Getting started", "Back matter")
            for c in part["chapters"]]


@pytest.mark.parametrize("doc", CHAPTERS)
def test_chapter_ends_with_three_or_more_checked_exercises(doc):
    """Each exercise: a labelled block, an answer cell that runs its check, and a folded solution
    whose cell runs the same check (which the strict build turns into a test of the solution)."""
    nb = json.loads(_source(doc).read_text())
    cells = ["".join(c["source"]) for c in nb["cells"]]
    exercises = [i for i, src in enumerate(cells) if re.search(r"^[`:]{3,}\{exercise\}", src, flags=re.M)]
    assert len(exercises) >= 3, f"{doc}: {len(exercises)} exercises"
    for start, end in zip(exercises, exercises[1:] + [len(cells)]):
        block = cells[start:end]
        checks = [re.search(r"\bex\.(\w+)\.check\(\)", src) for src in block]
        names = [m.group(1) for m in checks if m]
        assert len(names) == 2 and names[0] == names[1], f"{doc}: exercise at cell {start}: checks {names}"
        assert any("{solution-start}" in src for src in block), f"{doc}: exercise at cell {start}: no solution"


def test_repository_url_is_set_once_and_agrees_everywhere():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'Homepage = "{REPO_URL}"' in pyproject
    assert REPO_URL in (ROOT / "README.md").read_text()
    # the book config names it once (launch buttons and the repository button derive from it)
    assert (ROOT / "_config.yml").read_text().count(REPO_URL) == 1


def test_pages_workflow_builds_the_book_as_the_readme_does():
    flow = yaml.safe_load((ROOT / ".github" / "workflows" / "book.yml").read_text())
    steps = flow["jobs"]["build"]["steps"]
    runs = "\n".join(step.get("run", "") for step in steps)
    assert "make book" in runs
    torch_pin = re.search(r"^TORCH\s*\?=\s*(\S+)", (ROOT / "Makefile").read_text(), flags=re.M).group(1)
    assert torch_pin in runs, f"the workflow's torch differs from the Makefile's {torch_pin}"
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "_build/html"
    assert any(s.get("uses", "").startswith("actions/deploy-pages") for s in flow["jobs"]["deploy"]["steps"])


# --------------------------------------------------------------------------------------------
# The strict build
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def site() -> Path:
    """Build the whole book strictly, once per session; return the HTML folder."""
    build = ROOT / "_build"
    shutil.rmtree(build / ".jupyter_cache", ignore_errors=True)  # a fresh execution cache
    shutil.rmtree(build / "html", ignore_errors=True)
    env = {**os.environ, "DLOPT_LAB_STRICT": "1", "DLOPT_LAB_PROGRESS": "0", "PYTHONUNBUFFERED": "1",
           "OMP_WAIT_POLICY": "passive"}  # see the Makefile: no spinning torch threads
    # The unit tests run matplotlib headless (conftest sets MPLBACKEND=Agg); the notebooks' kernels
    # must keep Jupyter's inline backend, or no figure reaches the page.
    env.pop("MPLBACKEND", None)
    jb = Path(sys.executable).with_name("jupyter-book")
    start = time.perf_counter()
    proc = subprocess.run(
        [str(jb), "build", str(ROOT), "--all", "-W", "--keep-going"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=3000,
    )
    elapsed = time.perf_counter() - start
    log = proc.stdout + proc.stderr
    (build / "build.log").write_text(log)
    for line in log.splitlines():
        if "Executed notebook in" in line:
            print(line.strip())
    print(f"book built in {elapsed:.0f} s")
    assert proc.returncode == 0, "jupyter-book build -W failed:\n" + log[-6000:]
    return build / "html"


@pytest.mark.book
def test_every_toc_page_is_built_and_no_other(site):
    built = {p.relative_to(site).with_suffix("").as_posix() for p in (site / "book").glob("*.html")}
    assert built == {d for d in PAGES}, built ^ set(PAGES)


@pytest.mark.book
@pytest.mark.parametrize("doc", NOTEBOOKS)
def test_executed_notebook_has_outputs_and_no_errors(site, doc):
    html = (site / f"{doc}.html").read_text()
    assert "cell_output" in html, f"{doc}: no outputs: was the notebook executed?"
    assert "highlight-ipythontb" not in html, f"{doc}: an error traceback is on the page"
    # Every figure a cell draws is on the page: as many images as the executed notebook holds.
    executed = json.loads((site.parent / "jupyter_execute" / f"{doc}.ipynb").read_text())
    n_png = sum("image/png" in out.get("data", {}) for cell in executed["cells"]
                for out in cell.get("outputs", []))
    n_img = len(re.findall(r'<img[^>]+src="[^"]*_images/[^"]+\.png"', html))
    assert n_png > 0, f"{doc}: the executed notebook has no figures (is MPLBACKEND set?)"
    assert n_img == n_png, f"{doc}: {n_png} figures executed, {n_img} on the page"


@pytest.mark.book
@pytest.mark.parametrize("doc", NOTEBOOKS)
def test_explorers_are_static_fallbacks_under_1mb(site, doc):
    html = (site / f"{doc}.html").read_text()
    assert "application/vnd.jupyter.widget-view+json" not in html, "a widget view was rendered"
    assert "require.min.js" not in html and "html-manager" not in html, "a widget manager CDN is loaded"
    blocks = re.findall(r'<div class="dlopt-explorer".*?Pre-rendered frames', html, flags=re.S)
    for block in blocks:
        assert len(block.encode()) < 1_000_000, f"{doc}: an explorer weighs {len(block)} bytes"
        assert block.count('class="dlx-frame"') >= 2
        assert 'type="range"' in block


@pytest.mark.book
@pytest.mark.parametrize("doc", NOTEBOOKS)
def test_launch_and_download_buttons(site, doc):
    html = (site / f"{doc}.html").read_text()
    slug = REPO_URL.removeprefix("https://github.com/")
    colab = f"https://colab.research.google.com/github/{slug}/blob/main/{doc}.ipynb"
    binder = f"https://mybinder.org/v2/gh/{slug}/main?urlpath=tree/{doc}.ipynb"
    assert colab in html, f"no Colab launch link {colab}"
    assert binder in html, f"no Binder launch link {binder}"
    assert f'href="../_sources/{doc}.ipynb"' in html or f"_sources/{doc}.ipynb" in html
    assert (site / "_sources" / f"{doc}.ipynb").exists()


def page_weight(site: Path, doc: str) -> int:
    """Bytes a reader downloads for a page's own content: its HTML and the images it shows
    (explorer frames are inline in the HTML; the theme's shared CSS and JS are not counted)."""
    html_path = site / f"{doc}.html"
    html = html_path.read_text()
    images = set(re.findall(r'<img[^>]+src="([^"]+)"', html))
    local = [(html_path.parent / src).resolve() for src in images if not src.startswith(("data:", "http"))]
    return html_path.stat().st_size + sum(p.stat().st_size for p in local if p.exists())


@pytest.mark.book
def test_no_page_over_3_mb(site):
    weights = {doc: page_weight(site, doc) for doc in PAGES}
    heaviest = max(weights, key=weights.get)
    print(f"heaviest page: {heaviest} ({weights[heaviest] / 1e6:.2f} MB)")
    over = {d: w for d, w in weights.items() if w > 3_000_000}
    assert not over, f"pages over 3 MB: {over}"


@pytest.mark.book
def test_figures_are_opaque_so_they_read_on_the_dark_theme(site):
    """Matplotlib figures are saved on white; a transparent one would put black text on the dark
    theme's near-black background."""
    from PIL import Image

    pngs = sorted((site / "_images").glob("*.png"))
    assert pngs
    for png in pngs:
        with Image.open(png) as im:
            rgba = im.convert("RGBA")
            w, h = rgba.size
            corners = [rgba.getpixel(xy) for xy in ((0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1))]
        assert all(c[3] == 255 for c in corners), f"{png.name} has a transparent background"


@pytest.mark.book
def test_references_page_lists_the_cited_papers(site):
    html = (site / "book" / "references.html").read_text()
    for author in ("Cauchy", "Robbins", "Polyak", "Nesterov", "Kingma"):
        assert author in html


# --------------------------------------------------------------------------------------------
# The site in a real browser
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_page(site):
    if not Path(CHROMIUM).exists():
        if os.environ.get("DLOPT_LAB_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(site))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        try:
            yield base, page
        finally:
            browser.close()
            server.shutdown()
            server.server_close()


@pytest.mark.book
@pytest.mark.parametrize("doc", PAGES)
def test_page_in_browser(browser_page, site, doc):
    base, page = browser_page
    problems: list[str] = []
    handlers = {
        "console": lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
        "pageerror": lambda e: problems.append(f"page error: {e}"),
        "requestfailed": lambda r: problems.append(f"request failed: {r.url}"),
    }
    for event, handler in handlers.items():
        page.on(event, handler)
    try:
        page.goto(f"{base}/{doc}.html", wait_until="load")
        page.wait_for_load_state("networkidle")

        # Math: every math element was typeset by MathJax, and no raw $$ is left in the text.
        n_math = page.evaluate("document.querySelectorAll('.math').length")
        if n_math:
            page.wait_for_function(
                "Array.from(document.querySelectorAll('.math')).every(e => e.querySelector('mjx-container'))",
                timeout=20_000,
            )
        text = page.evaluate("document.querySelector('main').innerText")
        assert "$$" not in text, f"{doc}: raw $$ left on the page"

        # Explorers: moving each slider through the page's own control changes the figure.
        n_explorers = page.locator(".dlopt-explorer").count()
        for i in range(n_explorers):
            explorer = page.locator(".dlopt-explorer").nth(i)
            explorer.scroll_into_view_if_needed()
            sliders = explorer.locator("input[type=range]")
            for j in range(sliders.count()):
                slider = sliders.nth(j)
                shown = explorer.locator("img.dlx-frame:visible")
                assert shown.count() == 1
                before = shown.get_attribute("src")
                at_max = slider.input_value() == slider.get_attribute("max")
                slider.focus()
                page.keyboard.press("ArrowLeft" if at_max else "ArrowRight")
                shown = explorer.locator("img.dlx-frame:visible")
                assert shown.count() == 1, f"{doc}: explorer {i} shows {shown.count()} frames"
                assert shown.get_attribute("src") != before, f"{doc}: explorer {i} did not change"
                if i == 0 and j == 0:
                    page.screenshot(path=str(_shots(site) / f"{Path(doc).name}-explorer.png"))

        # Exercises: each solution is folded until opened.
        solutions = page.locator(".solution.dropdown")
        for k in range(solutions.count()):
            body = solutions.nth(k).locator(".admonition-title ~ *").first
            assert not body.is_visible(), f"{doc}: solution {k} is visible before it is opened"
        if solutions.count():
            first = solutions.first
            first.scroll_into_view_if_needed()
            first.locator("button.toggle-button").click()  # sphinx-togglebutton's control
            page.wait_for_timeout(400)
            assert first.locator(".admonition-title ~ *").first.is_visible(), "a solution does not open"

        # Launch buttons (chapters) and the download button (every page), as the page shows them.
        hrefs = page.evaluate("Array.from(document.querySelectorAll('a[href]'), a => a.href)")
        if doc in NOTEBOOKS:
            slug = REPO_URL.removeprefix("https://github.com/")
            assert f"https://colab.research.google.com/github/{slug}/blob/main/{doc}.ipynb" in hrefs
            assert f"https://mybinder.org/v2/gh/{slug}/main?urlpath=tree/{doc}.ipynb" in hrefs
        source = f"{base}/_sources/{doc}{_source(doc).suffix}"
        assert source in hrefs, f"{doc}: no download link to {source}"

        page.screenshot(path=str(_shots(site) / f"{Path(doc).name}.png"))
        assert not problems, f"{doc}:\n" + "\n".join(problems)
    finally:
        for event, handler in handlers.items():
            page.remove_listener(event, handler)


def _shots(site: Path) -> Path:
    shots = site.parent / "screenshots"
    shots.mkdir(exist_ok=True)
    return shots


@pytest.mark.book
def test_search_finds_a_chapter(browser_page):
    base, page = browser_page
    page.goto(f"{base}/search.html?q=nesterov", wait_until="load")
    results = page.locator("#search-results ul.search li a")
    results.first.wait_for(timeout=20_000)
    targets = [results.nth(i).get_attribute("href") for i in range(results.count())]
    assert any("book/momentum.html" in t for t in targets), targets


@pytest.mark.book
@pytest.mark.parametrize("doc", ["book/adam", "book/quantization", "book/glossary"])
def test_dark_theme_is_readable(browser_page, site, doc):
    """With the reader's system in dark mode the theme turns dark (default_mode: auto); the text
    keeps a readable contrast and every figure sits on its own opaque white background."""
    base, page = browser_page
    page.emulate_media(color_scheme="dark")
    try:
        page.goto(f"{base}/{doc}.html", wait_until="load")
        page.wait_for_load_state("networkidle")
        assert page.evaluate("document.documentElement.dataset.theme") == "dark"
        contrast = page.evaluate(_CONTRAST_JS)
        assert contrast >= 7, f"{doc}: body text contrast {contrast:.1f} on the dark theme"
        corners = page.evaluate(_IMAGE_ALPHA_JS)
        assert all(a == 255 for a in corners), f"{doc}: a figure is transparent on the dark theme"
        shown = page.locator("main img:visible")  # (an explorer keeps all but one frame hidden)
        if shown.count():
            shown.first.scroll_into_view_if_needed()
        page.screenshot(path=str(_shots(site) / f"{Path(doc).name}-dark.png"))
    finally:
        page.emulate_media(color_scheme="light")


# WCAG contrast of the main text colour against the page background.
_CONTRAST_JS = """() => {
  const rgb = s => s.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = c => { const [r, g, b] = c.map(v => { v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
      return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const p = document.querySelector('main p');
  const fg = lum(rgb(getComputedStyle(p).color));
  const bg = lum(rgb(getComputedStyle(document.body).backgroundColor));
  return (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
}"""

# The alpha of the four corners of every visible image in the page's main content.
_IMAGE_ALPHA_JS = """() => {
  const out = [];
  for (const img of document.querySelectorAll('main img')) {
    if (!img.complete || !img.naturalWidth || img.offsetParent === null) continue;
    const c = document.createElement('canvas');
    c.width = img.naturalWidth; c.height = img.naturalHeight;
    const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
    for (const [x, y] of [[0, 0], [c.width - 1, 0], [0, c.height - 1], [c.width - 1, c.height - 1]])
      out.push(ctx.getImageData(x, y, 1, 1).data[3]);
  }
  return out;
}"""
