"""Sphinx extension for the HTML book: fixes two faults a browser reports.

Listed in ``_config.yml`` under ``sphinx: local_extensions``. The browser
test (tests/test_browser.py) fails without it:

1. Inline scripts added by extensions (sphinx-thebe's
   ``const THEBE_JS_URL = ...``, sphinx-togglebutton's selector) appear twice
   in every page with Sphinx 7.4: the registry holds them with filename
   ``None`` and the builder with ``''``, so Sphinx's own de-duplication misses
   them. The second ``const`` declaration is a JavaScript error on every
   page. We drop exact duplicates (same file or body, same attributes).
2. pydata-sphinx-theme starts with an empty colour mode when the reader has
   none stored, and logs "Got invalid theme mode" as a console error. The
   mode is set in ``_config.yml`` (``html_context: default_mode: light``: the
   figures are SVGs drawn in black, unreadable on a dark page); here we only
   check that it is set.
"""


def _key(js):
    return (js.filename or "", js.priority, tuple(sorted(js.attributes.items())))


def dedupe_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for js in scripts:
        if not hasattr(js, "attributes"):  # a plain string: keep as is
            unique.append(js)
            continue
        key = _key(js)
        if key not in seen:
            seen.add(key)
            unique.append(js)
    scripts[:] = unique


def check_mode(app, config):
    mode = (config.html_context or {}).get("default_mode")
    if mode not in ("light", "dark", "auto"):
        raise ValueError("set sphinx.config.html_context.default_mode in _config.yml "
                         f"to light, dark or auto (got {mode!r})")


def setup(app):
    app.connect("config-inited", check_mode)
    # Late, so that scripts other extensions add per page are seen too.
    app.connect("html-page-context", dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
