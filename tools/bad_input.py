#!/usr/bin/env python3
"""The README's "Bad input" table, generated from the tests themselves.

    python tools/bad_input.py            # Markdown table on stdout
    python tools/bad_input.py --gaps     # only the public names no bad-input test reaches

It runs the unit tests with a small pytest plugin (below) that watches every
``pytest.raises(TypeError/ValueError, ...)``. For each one that caught its
exception, the plugin walks the traceback to the first frame inside
``d2lstab`` (the public function or class the test called, e.g.
``optim.SGD`` for ``SGD.__init__``) and records the argument the message
names (its first word: every check in ``d2lstab._validate`` starts its
message with the argument's name), the exception type and the test. So
the table lists only what a test really exercised, and changes when the
tests change.
"""
import argparse
import collections
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
SKIP = ["test_browser.py", "test_colab.py", "test_python_versions.py", "test_notebooks.py",
        "test_determinism.py"]
# Public names with no argument a reader could get wrong, and why.
NOTHING_TO_VALIDATE = {
    "train.History": "takes no arguments",
    "train.Callback": "takes no arguments",
    "train.in_notebook": "takes no arguments",
    "gradcheck.GradCheck": "a result record, built only by check_gradients",
    "optim.Optimizer": "the abstract base; its checks run (and are tested) through SGD, AdaGrad, RMSProp, Adam",
    "diagnostics.activation_name": "any object is a valid argument (the answer is then None)",
    "activations.SELU": "takes no arguments of its own (only Gluon's prefix and params)",
    "repeats.Comparison": "a result record, built by compare, whose arguments are checked",
}

# ---------------------------------------------------------------- the plugin
_records = []


def _entry_point(tb):
    """'module.Name' of the first d2lstab frame in a traceback (the public entry)."""
    package = str(ROOT / "d2lstab")
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename.startswith(package):
            module = pathlib.Path(code.co_filename).stem
            name = getattr(code, "co_qualname", code.co_name)
            parts = name.split(".")
            if parts[-1] in ("__init__", "__call__", "forward") and len(parts) > 1:
                name = ".".join(parts[:-1])
            if module.startswith("_"):  # a check called directly by the test
                return f"{module}.{name}"
            return f"{module}.{name}"
        tb = tb.tb_next
    return None


def _argument(message):
    """The argument a validation message names: its first word, indices dropped."""
    match = re.match(r"\s*([A-Za-z_][\w.]*)", message)
    return match.group(1) if match else "?"


def pytest_configure(config):
    import pytest

    original = pytest.raises

    def recording_raises(expected, *args, **kwargs):
        ctx_or_info = original(expected, *args, **kwargs)
        node = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0]
        if args:  # the callable form has already run
            _record(ctx_or_info, node)
            return ctx_or_info

        class Watch:
            def __enter__(self):
                self.info = ctx_or_info.__enter__()
                return self.info

            def __exit__(self, *exc):
                suppressed = ctx_or_info.__exit__(*exc)
                if suppressed:
                    _record(self.info, node)
                return suppressed

        return Watch()

    pytest.raises = recording_raises


def _record(info, node):
    exc = info.value
    if not isinstance(exc, (TypeError, ValueError)):
        return
    entry = _entry_point(info.tb)
    if entry is None:
        return
    _records.append({"entry": entry, "argument": _argument(str(exc)), "exception": type(exc).__name__,
                     "test": node, "message": str(exc)[:160]})


def pytest_unconfigure(config):
    out = os.environ.get("D2LSTAB_BAD_INPUT_OUT")
    if out:
        pathlib.Path(out).write_text(json.dumps(_records))


# ---------------------------------------------------------------- the report
def public_names():
    """'module.name' for every name in each d2lstab module's __all__ that is a function or class."""
    import importlib
    import inspect

    names = []
    for path in sorted((ROOT / "d2lstab").glob("*.py")):
        if path.stem.startswith("_"):
            continue
        mod = importlib.import_module(f"d2lstab.{path.stem}")
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name, None)
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and getattr(obj, "__module__", "") == mod.__name__:
                names.append(f"{path.stem}.{name}")
    return names


def collect():
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "records.json"
        env = dict(os.environ, D2LSTAB_BAD_INPUT_OUT=str(out),
                   PYTHONPATH=str(ROOT / "tools") + os.pathsep + os.environ.get("PYTHONPATH", ""))
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
               "-p", "bad_input", "tests"] + [f"--ignore=tests/{s}" for s in SKIP]
        result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        if result.returncode != 0:  # the table still lists what the passing tests showed
            failed = [l for l in result.stdout.splitlines() if l.startswith("FAILED")]
            print("warning: some unit tests failed:\n" + "\n".join(failed or [result.stdout[-2000:]]),
                  file=sys.stderr)
        return json.loads(out.read_text())


def _short(node):
    path, _, name = node.partition("::")
    name = re.sub(r"\[.*", "", name)  # one row per test function, not per parameter set
    return f"{pathlib.Path(path).name}::{name}"


def build_table(records, names):
    rows = collections.defaultdict(lambda: collections.defaultdict(set))
    for r in records:
        rows[(r["entry"], r["argument"])][r["exception"]].add(_short(r["test"]))
    lines = ["| public name | argument | exception | test |", "| --- | --- | --- | --- |"]
    for (entry, arg) in sorted(rows):
        for exc, tests in sorted(rows[(entry, arg)].items()):
            shown = sorted(tests)
            more = f" (+{len(shown) - 2} more)" if len(shown) > 2 else ""
            lines.append(f"| `{entry}` | `{arg}` | {exc} | " + ", ".join(f"`{t}`" for t in shown[:2]) + more + " |")
    reached = {entry for entry, _ in rows}
    gaps = [n for n in names if n not in reached and n not in NOTHING_TO_VALIDATE]
    return "\n".join(lines), gaps


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gaps", action="store_true")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    records = collect()
    table, gaps = build_table(records, public_names())
    if not args.gaps:
        n_entries = len({r["entry"] for r in records})
        print(f"{len(records)} bad-input checks in the tests reach {n_entries} public names.\n")
        print(table)
        print()
    print("Nothing to validate: " + "; ".join(f"`{k}` ({v})" for k, v in NOTHING_TO_VALIDATE.items()) + ".")
    if gaps:
        print("Public names with no bad-input test: " + ", ".join(f"`{g}`" for g in gaps) + ".")
    else:
        print("Every public function and class has at least one bad-input test.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
