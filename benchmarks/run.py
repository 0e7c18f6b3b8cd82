#!/usr/bin/env python3
"""The book's benchmarks, measured in one run on this machine, printed as one table.

    python benchmarks/run.py              # everything (about 7 minutes on 2 cores)
    python benchmarks/run.py --quick      # skip the whole-book validation and the HTML build
    python benchmarks/run.py --markdown   # the same table as Markdown (for the README)

What it measures:

* each chapter in ``_toc.yml``: the time to execute it from a fresh kernel
  (as ``tools/nbtools.py execute`` does, but without writing the notebook)
  and the peak resident memory of that kernel;
* the whole book's validation: ``pytest chapters`` with nbval, exactly the
  notebook part of ``make test`` (wall time, and the peak memory of the
  largest process: pytest or one of the kernels it starts);
* the determinism test (``tests/test_determinism.py``): every chapter
  re-executed with nbval under four emulated CPUs, two runs at a time;
* the HTML build: ``jupyter-book build . -W -n`` into a temporary folder;
* ``d2lstab.train.fit`` against a minimal hand-written training loop on the
  same hybridized MLP (64-256-256-10), digits, ``gluon.Trainer`` (SGD) and
  number of epochs, in training examples per second (the goal's row). The
  loop only trains; ``fit`` also measures the training loss and accuracy and
  the test loss and accuracy every epoch (a forward pass over the 360 test
  digits: about 8% of an epoch's arithmetic), and runs the loss inside the
  net's graph. Two more rows say where the time goes: the loop with the loss
  hybridized too (the graph ``fit`` runs), and the loop plus ``fit``'s
  per-epoch numbers computed by hand;
* the from-scratch optimizers' ``step()`` time relative to MXNet's fused
  kernels and to ``gluon.Trainer.step`` (``benchmarks/bench_optim.py``);
* the Colab header's install, cold: a fresh simulated Colab runtime built
  from ``colab/runtime.toml`` (``tests/test_colab.py``: Python 3.13 venv with
  Colab's packages, stand-in ``google.colab``), pip's cache off, the
  chapters' first cell timed in its kernel (MXNet downloaded from PyPI,
  d2lstab cloned from a local copy of the checkout and built).

Every time and memory figure is measured, never copied; peak memory is the
``ru_maxrss`` of the measured process tree (Linux reports the largest single
process). The goals are the book's: every chapter under 60 s, the whole book
validated in under 3 minutes with under 2 GB, ``fit`` within 10% of the loop.
"""
import argparse
import contextlib
import io
import json
import os
import pathlib
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"

GOALS = {"chapter_seconds": 60.0, "book_seconds": 180.0, "book_peak_mb": 2048.0, "fit_slowdown": 1.10,
         "colab_header_seconds": 60.0}

# Executes one notebook in memory from a fresh kernel, in the chapter's folder.
EXECUTE = """
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], 4)
NotebookClient(nb, timeout=600, kernel_name="python3",
               resources={"metadata": {"path": sys.argv[2]}}).execute()
"""


def measure(cmd, cwd=ROOT):
    """Run ``cmd`` in a fresh measuring process: wall seconds, peak RSS (MB), exit code."""
    wrapper = [sys.executable, str(pathlib.Path(__file__).resolve()), "--measure", "--"] + list(cmd)
    out = subprocess.run(wrapper, cwd=cwd, capture_output=True, text=True)
    lines = out.stdout.strip().splitlines()
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"measuring {cmd} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return json.loads(lines[-1])


def _measure_main(cmd):
    """Child side of ``measure``: run, wait, report the largest descendant's peak RSS."""
    tic = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - tic
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    if result.returncode != 0:
        sys.stdout.write(result.stdout[-3000:] + result.stderr[-3000:] + "\n")
    print(json.dumps({"seconds": seconds, "peak_mb": peak_kb / 1024, "returncode": result.returncode}))


def toc_chapters():
    sys.path.insert(0, str(ROOT / "tools"))
    import nbtools

    return nbtools.toc_chapters(ROOT)


def bench_chapters():
    rows = []
    for path in toc_chapters():
        r = measure([sys.executable, "-c", EXECUTE, str(path), str(path.parent)])
        if r["returncode"] != 0:
            raise RuntimeError(f"{path.name} failed to execute")
        rows.append((path.stem, r["seconds"], r["peak_mb"]))
        print(f"  executed {path.name}: {r['seconds']:.1f} s, {r['peak_mb']:.0f} MB", file=sys.stderr)
    return rows


def bench_book():
    r = measure([sys.executable, "-m", "pytest", "-q", "chapters"])
    if r["returncode"] != 0:
        raise RuntimeError("the book's validation (pytest chapters) failed")
    return r


def bench_determinism():
    """The determinism test: every chapter under the four emulated CPUs (tests/test_determinism.py)."""
    r = measure([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
                 "tests/test_determinism.py::test_every_chapter_under_emulated_cpus"])
    if r["returncode"] != 0:
        raise RuntimeError("the determinism test failed")
    return r


def bench_build():
    with tempfile.TemporaryDirectory() as out:
        jb = pathlib.Path(sys.executable).parent / "jupyter-book"
        r = measure([str(jb), "build", str(ROOT), "-W", "-n", "--keep-going", "--path-output", out])
    if r["returncode"] != 0:
        raise RuntimeError("the HTML build failed or warned")
    return r


def bench_fit(epochs=10, repeats=7):
    """fit vs hand-written loops: training examples per second (median of ``repeats``), by variant."""
    import d2lstab as d2l
    from mxnet import autograd, gluon, init, np, npx

    train_iter, test_iter = d2l.data.load_digits(batch_size=64)
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    hybrid_loss = gluon.loss.SoftmaxCrossEntropyLoss()
    hybrid_loss.hybridize()
    n_train = sum(y.shape[0] for _, y in train_iter)

    def make():
        d2l.seed(0)
        net = gluon.nn.HybridSequential()
        net.add(gluon.nn.Dense(256, activation="relu"), gluon.nn.Dense(256, activation="relu"),
                gluon.nn.Dense(10))
        net.initialize(init.Xavier())
        net.hybridize()
        net(np.zeros((1, 64)))  # build the graph outside the timing
        npx.waitall()
        return net, gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})

    def train(net, trainer, loss_fn):
        for _ in range(epochs):
            for X, y in train_iter:
                with autograd.record():
                    l = loss_fn(net(X), y)
                l.backward()
                trainer.step(X.shape[0])
        npx.waitall()

    def loop(net, trainer):
        train(net, trainer, loss)

    def loop_hybrid_loss(net, trainer):
        train(net, trainer, hybrid_loss)

    def loop_with_metrics(net, trainer):
        """The loop, plus what fit reports each epoch, written by hand: training loss and
        accuracy from the minibatches, test loss and accuracy from one pass (read once)."""
        for _ in range(epochs):
            seen = []
            for X, y in train_iter:
                with autograd.record():
                    y_hat = net(X)
                    l = loss(y_hat, y)
                l.backward()
                trainer.step(X.shape[0])
                seen.append((l, y_hat, y))
            test = [(loss(y_hat, y), y_hat, y) for y_hat, y in ((net(X), y) for X, y in test_iter)]
            for batches in (seen, test):
                sum(float(l.sum()) for l, _, _ in batches)
                float((np.concatenate([o for _, o, _ in batches]).argmax(axis=1).astype("int32")
                       == np.concatenate([t for _, _, t in batches])).sum())
        npx.waitall()

    def with_fit(net, trainer):
        d2l.train.fit(net, train_iter, test_iter, loss, trainer, epochs, progress=False)
        npx.waitall()

    variants = {"loop": loop, "loop, loss hybridized": loop_hybrid_loss,
                "loop+metrics": loop_with_metrics, "fit": with_fit}
    times = {k: [] for k in variants}
    for _ in range(repeats):  # interleaved, so all see the same machine load
        for name, fn in variants.items():
            net, trainer = make()
            tic = time.perf_counter()
            fn(net, trainer)
            times[name].append(time.perf_counter() - tic)
    return {k: epochs * n_train / statistics.median(v) for k, v in times.items()}


def bench_colab_header():
    """Seconds of the Colab header's cold install in a fresh simulated runtime, or None
    without Colab's Python (tests/test_colab.py, which the test of the same limit runs)."""
    sys.path.insert(0, str(ROOT / "tests"))
    import test_colab

    python = test_colab.find_python()
    if python is None:
        return None
    with tempfile.TemporaryDirectory() as base:
        return test_colab.cold_header_install(pathlib.Path(base), python)


def bench_optim(repeats):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_optim

    with contextlib.redirect_stdout(io.StringIO()):
        return bench_optim.bench_steps(repeats)


def machine():
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import d2lstab  # noqa: F401  (makes MXNet importable: must come first)
    import mxnet
    import numpy

    return (f"{cpu}, {os.cpu_count()} cores, {mem_gb:.0f} GiB; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}, MXNet {mxnet.__version__}, NumPy {numpy.__version__}")


def table(results, fmt="text"):
    rows = []
    for name, seconds, peak in results.get("chapters", []):
        rows.append((f"chapter {name}: execution", f"{seconds:.1f} s, peak {peak:.0f} MB",
                     f"< {GOALS['chapter_seconds']:.0f} s", seconds < GOALS["chapter_seconds"]))
    if "book" in results:
        b = results["book"]
        rows.append(("whole book validation (pytest chapters, nbval)", f"{b['seconds']:.0f} s, peak {b['peak_mb']:.0f} MB",
                     "< 180 s, < 2048 MB",
                     b["seconds"] < GOALS["book_seconds"] and b["peak_mb"] < GOALS["book_peak_mb"]))
    if "determinism" in results:
        d = results["determinism"]
        rows.append(("determinism test (every chapter under 4 emulated CPUs, 2 at a time)",
                     f"{d['seconds']:.0f} s, peak {d['peak_mb']:.0f} MB", "", None))
    if "build" in results:
        rows.append(("HTML build (jupyter-book -W -n)", f"{results['build']['seconds']:.0f} s", "", None))
    if "fit" in results:
        rate = results["fit"]
        f = rate["fit"]
        for key, label, goal in (
                ("loop", "fit vs minimal hand-written hybridized loop (train examples/s)", True),
                ("loop, loss hybridized", "fit vs that loop with the loss hybridized too", False),
                ("loop+metrics", "fit vs the loop plus fit's per-epoch metrics by hand", False)):
            other = rate[key]
            rows.append((label, f"{f:,.0f} vs {other:,.0f}: {other / f:.2f}x its time",
                         "<= 1.10x" if goal else "", other / f <= GOALS["fit_slowdown"] if goal else None))
    if "colab_header" in results:
        s = results["colab_header"]
        rows.append(("Colab header install (simulation, cold)",
                     f"{s:.1f} s" if s is not None else "not measured: no Python 3.13",
                     f"< {GOALS['colab_header_seconds']:.0f} s",
                     s < GOALS["colab_header_seconds"] if s is not None else None))
    for name, (ours, kernel, trainer) in results.get("optim", {}).items():
        rows.append((f"optim.{name} step()", f"{ours:.2f} ms: {ours / kernel:.2f}x MXNet kernel, "
                     f"{ours / trainer:.2f}x Trainer.step", "", None))
    mark = {True: "yes", False: "NO", None: ""}
    if fmt == "markdown":
        lines = ["| measurement | result | goal | met |", "| --- | --- | --- | --- |"]
        lines += [f"| {a} | {b} | {c} | {mark[d]} |" for a, b, c, d in rows]
    else:
        w = max(len(r[0]) for r in rows)
        v = max(len(r[1]) for r in rows)
        lines = [f"{'measurement':<{w}}  {'result':<{v}}  {'goal':<18}  met", "-" * (w + v + 27)]
        lines += [f"{a:<{w}}  {b:<{v}}  {c:<18}  {mark[d]}" for a, b, c, d in rows]
    return "\n".join([f"Measured {results['date']} on {results['machine']}", ""] + lines)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:2] == ["--measure", "--"]:
        _measure_main(argv[2:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="skip the book validation and the HTML build")
    parser.add_argument("--repeats", type=int, default=20, help="optimizer step timing repeats")
    parser.add_argument("--markdown", action="store_true", help="print the last saved run as Markdown")
    args = parser.parse_args(argv)
    saved = RESULTS / "latest.json"
    if args.markdown:
        print(table(json.loads(saved.read_text()), "markdown"))
        return 0

    results = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine()}
    print("measuring the chapters ...", file=sys.stderr)
    results["chapters"] = bench_chapters()
    if not args.quick:
        print("measuring the whole book's validation ...", file=sys.stderr)
        results["book"] = bench_book()
        print("measuring the determinism test ...", file=sys.stderr)
        results["determinism"] = bench_determinism()
        print("measuring the HTML build ...", file=sys.stderr)
        results["build"] = bench_build()
    print("measuring the Colab header's cold install (simulated Colab) ...", file=sys.stderr)
    results["colab_header"] = bench_colab_header()
    print("measuring fit against a hand-written loop ...", file=sys.stderr)
    results["fit"] = bench_fit()
    print("measuring the optimizers' step() ...", file=sys.stderr)
    results["optim"] = bench_optim(args.repeats)
    RESULTS.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(results, indent=1))
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
