"""The built book, offline, checked in a real browser.

One session-scoped fixture builds the book exactly as ``make book`` does
(``jupyter-book build . -W -n --keep-going``, so any Sphinx warning fails it)
into a temporary folder, and serves the HTML on 127.0.0.1. Debian's Chromium
(``apt-get install chromium``; never a browser downloaded by Playwright) then
opens the home page and every chapter listed in ``_toc.yml`` and checks:

- math is typeset by MathJax served from the site itself: every ``.math``
  element holds MathJax output, no TeX error box, no raw ``$$`` in the text;
- every image loaded (``naturalWidth > 0``);
- no request failed, none answered 4xx/5xx, none left 127.0.0.1 (such a
  request is aborted and reported: the book must work with no network);
- no console error and no uncaught page error;
- the Colab launch link opens this chapter's ``.ipynb`` on the repository and
  branch configured in ``_config.yml``.

It also saves a screenshot of the first chapter to ``_build/screenshot.png``
(``docs/screenshot.png`` in the README is a copy of it).

Without Chromium or Playwright the tests skip with the reason, except under
CI (``CI`` set), where a missing browser is a failure, not a skip.
"""
import functools
import http.server
import os
import pathlib
import re
import shutil
import subprocess
import sys
import threading
import urllib.parse
import urllib.request

import pytest
import yaml

import book_pdf
import nbtools
from conftest import require_tool_or_skip

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCREENSHOT = ROOT / "_build" / "screenshot.png"


def _toc_chapters():
    return [f for f in nbtools.toc_files(ROOT) if (ROOT / f).with_suffix(".ipynb").exists()]


CHAPTERS = _toc_chapters()


def chromium_path():
    """Debian's Chromium binary (or $D2LSTAB_CHROMIUM), None when absent."""
    for candidate in (os.environ.get("D2LSTAB_CHROMIUM"), "/usr/lib/chromium/chromium",
                      shutil.which("chromium")):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


def colab_url(chapter):
    """The launch link a chapter page must carry, from _config.yml."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo = config["repository"]
    owner_name = urllib.parse.urlparse(repo["url"]).path.strip("/")
    book = (repo.get("path_to_book") or "").strip("/")
    path = f"{book}/{chapter}.ipynb" if book else f"{chapter}.ipynb"
    base = config["launch_buttons"]["colab_url"].rstrip("/")
    return f"{base}/github/{owner_name}/blob/{repo.get('branch', 'main')}/{path}"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def built_site(tmp_path_factory, request):
    """Build the book with -W -n into a temporary folder; return the HTML root.

    The site includes the PDF edition (the ``pdf_book`` fixture, tests/conftest.py)
    as ``d2lstab.pdf``, where ``make book`` puts it and the home page links it.
    Without TeX (outside CI, where the fixture skips) the site has no PDF and
    the link check leaves that one link out."""
    out = tmp_path_factory.mktemp("book")
    jb = pathlib.Path(sys.executable).parent / "jupyter-book"
    result = subprocess.run([str(jb), "build", str(ROOT), "-W", "-n", "--keep-going",
                             "--path-output", str(out)],
                            capture_output=True, text=True, timeout=1200)
    log = result.stdout + result.stderr
    assert result.returncode == 0, "book build failed or warned:\n" + log[-5000:]
    assert "WARNING" not in log, log[-5000:]
    html = out / "_build" / "html"
    assert (html / "_static" / "mathjax" / "tex-chtml.js").exists(), "MathJax was not copied into the site"
    try:
        pdf = request.getfixturevalue("pdf_book")
    except pytest.skip.Exception as exc:
        print(f"the site has no PDF edition: {exc}")
    else:
        shutil.copy2(pdf, html / PDF_NAME)
    return html


PDF_NAME = book_pdf.NAME


@pytest.fixture(scope="session")
def server(built_site):
    handler = functools.partial(_QuietHandler, directory=str(built_site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require_tool_or_skip("playwright is not installed (pip install -r requirements.txt)")
    path = chromium_path()
    if path is None:
        require_tool_or_skip("Debian's chromium is not installed (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, headless=True,
                              args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield b
        b.close()


# Runs in the page once MathJax has finished: what a reader would see wrong.
_INSPECT = r"""
() => {
  const out = {};
  const maths = Array.from(document.querySelectorAll('.math'));
  out.math = maths.length;
  out.untypeset = maths.filter(m => !m.querySelector('mjx-container')).length;
  out.containers = document.querySelectorAll('mjx-container').length;
  out.merrors = Array.from(document.querySelectorAll('mjx-merror'))
                     .map(e => e.textContent.slice(0, 80));
  // Reader-visible prose: the article without code and outputs.
  const article = document.querySelector('article') || document.body;
  const clone = article.cloneNode(true);
  clone.querySelectorAll('pre, code, mjx-container, script, style, .cell_output, .output')
       .forEach(e => e.remove());
  const text = clone.textContent;
  out.raw_dollars = (text.match(/\$\$/g) || []).length;
  out.raw_tex = (text.match(/\\(frac|sum|mathbf|partial|sqrt|begin\{)/g) || []).length;
  out.images = Array.from(document.images).map(
      img => ({src: img.getAttribute('src'), ok: img.complete && img.naturalWidth > 0}));
  out.colab = Array.from(document.querySelectorAll('a[href*="colab.research.google.com"]'))
                   .map(a => a.getAttribute('href'));
  // Blocks a reader would have to scroll sideways: code, outputs, display math, tables.
  out.wide = Array.from(article.querySelectorAll('pre, div.math, mjx-container[display="true"], table'))
      .filter(b => b.scrollWidth > b.clientWidth + 1)
      .map(b => `${b.tagName.toLowerCase()} ${b.scrollWidth} px in ${b.clientWidth} px: ` +
                (b.textContent || '').trim().slice(0, 60).replace(/\s+/g, ' '));
  // Figures: the chapters' plots (images under _images/), with caption, alt text, rendered width.
  out.figures = Array.from(article.querySelectorAll('img'))
      .filter(img => (img.getAttribute('src') || '').includes('_images/'))
      .map(img => {
        const fig = img.closest('figure');
        const cap = fig && fig.querySelector('figcaption');
        return {src: img.getAttribute('src'), alt: img.getAttribute('alt') || '',
                caption: cap ? cap.textContent.trim() : '',
                width: img.getBoundingClientRect().width, natural: img.naturalWidth};
      });
  out.links = Array.from(document.querySelectorAll('a[href]')).map(a => a.href);
  return out;
}
"""


def inspect_page(browser, url, screenshot=None):
    """Open ``url``; return (problems, facts) for one page."""
    problems, facts = [], {}
    host = urllib.parse.urlparse(url).netloc
    page = browser.new_page(viewport={"width": 1280, "height": 900})

    def route(r):
        if urllib.parse.urlparse(r.request.url).netloc != host and not r.request.url.startswith("data:"):
            problems.append(f"request left the site: {r.request.url}")
            r.abort()
        else:
            r.continue_()

    page.route("**/*", route)
    page.on("console", lambda m: m.type == "error" and problems.append(f"console error: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} ({r.failure})"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"))
    try:
        has_mathjax = facts["mathjax_script"] = _open_typeset(page, url, mathjax_timeout=30_000)
        page.wait_for_load_state("networkidle", timeout=30_000)
        # Open every dropdown (the exercises' solutions): what is inside must fit too.
        opened = page.evaluate("""() => {
            const buttons = Array.from(document.querySelectorAll('.toggle-hidden button.toggle-button'));
            buttons.forEach(b => b.click());
            return buttons.length; }""")
        facts["dropdowns"] = opened
        if opened:
            page.wait_for_timeout(500)
        facts.update(page.evaluate(_INSPECT))
        if facts["math"] and not has_mathjax:
            problems.append("page has math but loads no MathJax")
        if facts["untypeset"]:
            problems.append(f"{facts['untypeset']} of {facts['math']} math elements not typeset")
        if facts["merrors"]:
            problems.append(f"TeX errors: {facts['merrors']}")
        if facts["raw_dollars"]:
            problems.append(f"{facts['raw_dollars']} raw $$ left in the text")
        if facts["raw_tex"]:
            problems.append(f"{facts['raw_tex']} raw TeX commands left in the text")
        for img in facts["images"]:
            if not img["ok"]:
                problems.append(f"image not loaded: {img['src']}")
        for block in facts["wide"]:
            problems.append(f"scrolls sideways at 1280 px: {block}")
        problems += figure_problems(url, facts["figures"])
        if screenshot is not None:
            _screenshot(page, screenshot)
    finally:
        page.close()
    return problems, facts


# Figure text is at least this large on the page (the figures are SVG; their text
# is drawn as glyph paths scaled from 100-unit glyphs: scale(0.1) is 10 pt).
MIN_TEXT_PX = 9.0
_GLYPH_SCALE = re.compile(r"scale\((\d*\.?\d+) -\d*\.?\d+\)")


def svg_text_px(svg, rendered_width):
    """The smallest text of a matplotlib SVG, in CSS px, when drawn ``rendered_width`` px wide."""
    width = re.search(r'<svg[^>]*\swidth="([\d.]+)pt"', svg)
    scales = [float(s) for s in _GLYPH_SCALE.findall(svg)]
    if not width or not scales:
        return None
    natural_px = float(width.group(1)) * 4 / 3
    return min(scales) * 100 * 4 / 3 * rendered_width / natural_px


def figure_problems(page_url, figures):
    problems = []
    for fig in figures:
        name = fig["src"].rsplit("/", 1)[-1][:16]
        if not re.match(r"Figure \d+\.\d+\b", fig["caption"]):
            problems.append(f"figure {name} has no numbered caption ('Figure N.M ...')")
        alt = fig["alt"].strip()
        if len(alt) < 20 or alt.endswith((".svg", ".png")) or "_images" in alt:
            problems.append(f"figure {name} has no alt text that says what it shows: {alt!r}")
        if fig["src"].endswith(".svg") and fig["width"] > 0:
            svg = urllib.request.urlopen(urllib.parse.urljoin(page_url, fig["src"]), timeout=30).read().decode()
            px = svg_text_px(svg, fig["width"])
            if px is not None and px < MIN_TEXT_PX:
                problems.append(f"figure {name}: text {px:.1f} px at its rendered width (< {MIN_TEXT_PX} px)")
    return problems


def _local_page(browser, url, **options):
    """A page that never leaves the site (inspect_page reports such requests)."""
    page = browser.new_page(**options)
    host = urllib.parse.urlparse(url).netloc
    page.route("**/*", lambda r: r.continue_() if urllib.parse.urlparse(r.request.url).netloc in (host, "")
               else r.abort())
    return page


def _open_typeset(page, url, mathjax_timeout=60_000):
    """Load ``url`` and wait until MathJax (if the page loads it) has typeset it;
    return whether the page loads MathJax."""
    page.goto(url, wait_until="load", timeout=60_000)
    has_mathjax = page.evaluate("() => !!document.querySelector('script[src*=\"mathjax\"]')")
    if has_mathjax:
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                               timeout=mathjax_timeout)
        page.evaluate("() => MathJax.startup.promise")
    return has_mathjax


def _luminance(css_color):
    """Relative luminance (0 black, 1 white) of an opaque CSS rgb()/rgba() colour, else 0."""
    parts = [float(v) for v in re.findall(r"[\d.]+", css_color)]
    if len(parts) < 3 or (len(parts) == 4 and parts[3] < 1):
        return 0.0
    def linear(c):
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (linear(c) for c in parts[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def phone_problems(browser, url):
    """At a phone's 390 px the page itself must not scroll sideways."""
    page = _local_page(browser, url, viewport={"width": 390, "height": 844})
    try:
        _open_typeset(page, url)
        page.wait_for_timeout(300)
        scroll, inner = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    finally:
        page.close()
    return [f"the page scrolls sideways at 390 px ({scroll} px wide)"] if scroll > inner + 1 else []


def dark_mode_problems(browser, url):
    """In the theme's dark mode the (black-on-transparent) figures sit on a light card."""
    page = _local_page(browser, url, viewport={"width": 1280, "height": 900}, color_scheme="dark")
    try:
        page.add_init_script("localStorage.setItem('mode', 'dark'); localStorage.setItem('theme', 'dark');")
        _open_typeset(page, url)
        page.evaluate("() => { document.documentElement.dataset.theme = 'dark'; document.documentElement.dataset.mode = 'dark'; }")
        page.wait_for_timeout(200)
        backgrounds = page.evaluate("""() => Array.from(document.querySelectorAll('article img'))
            .filter(i => (i.getAttribute('src') || '').includes('_images/'))
            .map(i => getComputedStyle(i).backgroundColor)""")
    finally:
        page.close()
    # Black text needs a light card: luminance 0.6 or more (white is 1).
    return [f"figure on a dark background in dark mode ({bg})" for bg in backgrounds
            if _luminance(bg) < 0.6]


def link_problems(site_root, base_url, links):
    """Internal links must point at a page of the site, and at an id on it."""
    problems = []
    for href in sorted(set(links)):
        parsed = urllib.parse.urlparse(href)
        if not href.startswith(base_url) or parsed.scheme not in ("http", "https"):
            continue
        target = pathlib.Path(site_root) / urllib.parse.unquote(parsed.path).lstrip("/")
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            if target.name == PDF_NAME and not os.environ.get("CI") and book_pdf.missing_tools():
                continue  # no TeX here (outside CI): the PDF was not built
            problems.append(f"broken link: {parsed.path}")
            continue
        if parsed.fragment and target.suffix == ".html":
            ids = _ids(target)
            if urllib.parse.unquote(parsed.fragment) not in ids:
                problems.append(f"broken anchor: {parsed.path}#{parsed.fragment}")
    return problems


@functools.lru_cache(maxsize=None)
def _ids(path):
    return set(re.findall(r'\sid="([^"]+)"', pathlib.Path(path).read_text()))


def _screenshot(page, path):
    """The viewport with the chapter's first figure at its bottom: prose, math and a plot."""
    page.evaluate("""() => {
        const fig = document.querySelector('img[src*="_images/"]');
        if (fig) fig.scrollIntoView({block: 'end'});
    }""")
    page.wait_for_timeout(300)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))


def test_chapters_are_listed():
    assert CHAPTERS, "_toc.yml lists no notebook chapters"


def test_mathjax_is_local(built_site):
    """Every page loads MathJax from the site, and nothing from a CDN."""
    for page in [built_site / "index.html"] + [built_site / f"{c}.html" for c in CHAPTERS]:
        text = page.read_text()
        assert "_static/mathjax/tex-chtml.js" in text, page
        assert "cdn.jsdelivr.net" not in text and "mathjax@" not in text, page


def test_home_page(browser, server, built_site):
    problems, facts = inspect_page(browser, f"{server}/index.html")
    problems += phone_problems(browser, f"{server}/index.html")
    problems += link_problems(built_site, server, facts["links"])
    assert problems == []
    assert facts["images"] is not None
    # The home page links every chapter, the bibliography and the PDF edition.
    hrefs = {urllib.parse.urlparse(h).path for h in facts["links"]}
    for page in CHAPTERS + ["references"]:
        assert f"/{page}.html" in hrefs, page
    assert f"/{PDF_NAME}" in hrefs, "the home page does not link the PDF edition"


def test_references_page(browser, server, built_site):
    """The bibliography lists what the chapters cite, and every citation links to it."""
    problems, facts = inspect_page(browser, f"{server}/references.html")
    problems += link_problems(built_site, server, facts["links"])
    assert problems == []
    entries = re.findall(r'<div class="citation" id="[^"]+"', (built_site / "references.html").read_text())
    assert len(entries) >= 20, f"only {len(entries)} works in the bibliography"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_page(browser, server, chapter):
    shot = SCREENSHOT if chapter == CHAPTERS[0] else None
    problems, facts = inspect_page(browser, f"{server}/{chapter}.html", screenshot=shot)
    assert problems == []
    assert facts["mathjax_script"], "no MathJax script on the page"
    # Every chapter has math and at least one figure; all of it was typeset and loaded.
    assert facts["math"] > 0 and facts["containers"] >= facts["math"]
    assert any("_images/" in (img["src"] or "") for img in facts["images"]), "no figure on the page"
    assert facts["colab"] == [colab_url(chapter)]
    assert facts["dropdowns"] > 0, "no solution dropdown on the page (were they opened and measured?)"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_readable(browser, server, built_site, chapter):
    """Nothing cut off at 1280 px (checked above), the page not wider than a phone,
    figures readable in dark mode, every internal link and anchor resolves,
    and every figure numbered and captioned (above) and cited by a link."""
    url = f"{server}/{chapter}.html"
    _, facts = inspect_page(browser, url)
    problems = phone_problems(browser, url) + dark_mode_problems(browser, url)
    problems += link_problems(built_site, server, facts["links"])
    assert problems == []
    assert facts["figures"], "no figure on the page"
    assert any("references.html#" in link for link in facts["links"]), "the chapter cites nothing"


def test_checker_has_teeth(browser, tmp_path):
    """A deliberately broken page: the checker must report every kind of fault."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "bad.html").write_text("""<!doctype html><html><head>
<script>console.error("boom");</script></head><body><article>
<p>Raw math left: $$x^2$$ and \\frac{1}{2}</p>
<div class="math">\\[x\\]</div>
<img src="missing.png">
<img src="https://cdn.example.org/remote.png">
<pre>xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx</pre>
<figure><img src="_images/tiny.svg" alt="tiny.svg"></figure>
<a href="nowhere.html">a broken link</a> <a href="bad.html#no-such-id">a broken anchor</a>
<div style="width: 900px">wider than a phone</div>
</article></body></html>""")
    (site / "_images").mkdir()
    (site / "_images" / "tiny.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="1500pt" height="300pt" viewBox="0 0 1500 300">'
        '<g transform="translate(10 20) scale(0.06 -0.06)"><path d="M0 0L100 100"/></g>'
        '<rect width="1500" height="300" fill="none" stroke="black"/></svg>')
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        problems, facts = inspect_page(browser, f"{base}/bad.html")
        problems += phone_problems(browser, f"{base}/bad.html")
        problems += dark_mode_problems(browser, f"{base}/bad.html")
        problems += link_problems(site, base, facts["links"])
    finally:
        httpd.shutdown()
        httpd.server_close()
    report = "\n".join(problems)
    for needle in ("console error: boom", "HTTP 404", "request left the site", "raw $$",
                   "raw TeX", "image not loaded: missing.png", "not typeset", "loads no MathJax",
                   "scrolls sideways at 1280 px: pre", "has no numbered caption", "has no alt text",
                   "px at its rendered width", "scrolls sideways at 390 px", "broken link: /nowhere.html",
                   "broken anchor: /bad.html#no-such-id", "dark background in dark mode"):
        assert needle in report, (needle, report)
