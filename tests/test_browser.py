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
import shutil
import subprocess
import sys
import threading
import urllib.parse

import pytest
import yaml

import nbtools

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCREENSHOT = ROOT / "_build" / "screenshot.png"


def _toc_chapters():
    return [f for f in nbtools.toc_files(ROOT) if (ROOT / f).with_suffix(".ipynb").exists()]


CHAPTERS = _toc_chapters()


def _missing(reason):
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must have it: .ci/run installs it)")
    pytest.skip(reason)


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
def built_site(tmp_path_factory):
    """Build the book with -W -n into a temporary folder; return the HTML root."""
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
    return html


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
        _missing("playwright is not installed (pip install -r requirements.txt)")
    path = chromium_path()
    if path is None:
        _missing("Debian's chromium is not installed (apt-get install chromium)")
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
        page.goto(url, wait_until="load", timeout=60_000)
        has_mathjax = page.evaluate("() => !!document.querySelector('script[src*=\"mathjax\"]')")
        facts["mathjax_script"] = has_mathjax
        if has_mathjax:
            page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                                   timeout=30_000)
            page.evaluate("() => MathJax.startup.promise")
        page.wait_for_load_state("networkidle", timeout=30_000)
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
        if screenshot is not None:
            _screenshot(page, screenshot)
    finally:
        page.close()
    return problems, facts


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


def test_home_page(browser, server):
    problems, facts = inspect_page(browser, f"{server}/index.html")
    assert problems == []
    assert facts["images"] is not None


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
</article></body></html>""")
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        problems, _ = inspect_page(browser, f"http://127.0.0.1:{httpd.server_address[1]}/bad.html")
    finally:
        httpd.shutdown()
        httpd.server_close()
    report = "\n".join(problems)
    for needle in ("console error: boom", "HTTP 404", "request left the site", "raw $$",
                   "raw TeX", "image not loaded: missing.png", "not typeset", "loads no MathJax"):
        assert needle in report, (needle, report)
