#!/usr/bin/env python3
"""Mutation testing of d2lstab with a fixed, reviewed list of mutants.

    python tools/mutate.py                 # run every mutant, print the table, exit 1 below --min-score
    python tools/mutate.py --check         # only check that every mutant still applies (fast)
    python tools/mutate.py --only ID ...   # run some mutants
    python tools/mutate.py --markdown      # the README table of the last run (.mutation/report.json)

A mutant is one small, deliberate bug of the kind a real edit makes: a
flipped sign or comparison, a swapped constant, an off-by-one step, a
dropped bias correction. Each is applied, alone, to a copy of the
repository (``.mutation/work0``, ``work1``, ...: ``--jobs`` mutants run at
once, each in its own copy; the checkout is never touched), and the test
command is run against it, fastest and most relevant part first:

1. the unit tests of the mutated module, then the other unit tests that use
   it (directly or through another module), with ``pytest -x``;
2. nbval on each chapter that uses the module (directly or through another
   module), one chapter at a time.

The first failing step kills the mutant (a time-out kills it too: the
mutant hung the code); a mutant that passes every step survives. The
mutation score is killed / all. Every survivor must be explained in
``ACCEPTED`` (an equivalent mutant, or a weakness we accept, with the
reason); the run fails if the score is below ``--min-score`` (85%) or a
survivor is not explained. A mutant whose text no longer occurs exactly
once in its module is stale: the run fails and says which, so the list is
kept up to date with the code.

The copy imports its own ``d2lstab`` (``PYTHONPATH``; checked before the
first mutant), so the kernels nbval starts see the mutant too. Before the
first mutant of each module its unit-test step runs on the unmutated copy,
in the same order: a test that fails there (for instance one that depends on
what ran before it) would otherwise count as a kill, so the run stops
instead. nbval is not run unmutated here (``--baseline-nbval`` does it):
``make test`` in ``.ci/run`` validates every chapter.
"""
import argparse
import concurrent.futures
import dataclasses
import json
import os
import pathlib
import queue
import re
import shutil
import subprocess
import sys
import time

import nbtools

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = "d2lstab"
WORK = ROOT / ".mutation"
# Unit-test files that are not about one module's behaviour, or too slow to run per mutant
# (the browser, the Colab simulation, fresh venvs per Python version, the chapter lint).
SKIP_TESTS = {"test_browser.py", "test_colab.py", "test_python_versions.py", "test_notebooks.py",
              "test_mutation_tool.py", "test_determinism.py", "test_figures.py"}
TOP_LEVEL = {  # names d2lstab/__init__.py re-exports, by module
    "utils": ["seed", "Timer", "cpu", "try_gpu", "num_gpus"],
    "plotting": ["plot", "plot_spread", "set_axes", "set_figsize", "use_svg_display"],
    "repeats": ["Spread", "compare", "repeat", "table"],
}


@dataclasses.dataclass(frozen=True)
class Mutant:
    id: str
    module: str     # d2lstab/<module>.py
    old: str        # must occur exactly once in the module
    new: str
    what: str       # the bug, in words


M = Mutant
MUTANTS = [
    # --- _validate: the checks at the door of every public function
    M("validate-positive-accepts-zero", "_validate", "    if value <= 0:\n", "    if value < 0:\n",
      "positive() accepts 0 (boundary flipped)"),
    M("validate-open-interval-ignored", "_validate",
      "ok_high = value <= high if high_closed else value < high", "ok_high = value <= high",
      "in_range() treats an open upper end as closed"),
    M("validate-integer-minimum-off-by-one", "_validate",
      "if minimum is not None and value < minimum:", "if minimum is not None and value < minimum - 1:",
      "integer() accepts minimum - 1"),
    M("validate-real-accepts-inf", "_validate", "if not onp.isfinite(value):", "if onp.isnan(value):",
      "real() accepts +-inf"),
    M("validate-boolean-accepts-int", "_validate", "isinstance(value, (bool, onp.bool_))",
      "isinstance(value, (bool, onp.bool_, int))", "boolean() accepts 0 and 1"),
    # --- _compat: MXNet on current NumPy
    M("compat-numpy3-allowed", "_compat", "SUPPORTED_NUMPY = ((1, 23), (2, 99))",
      "SUPPORTED_NUMPY = ((1, 23), (3, 99))", "NumPy 3 is not refused with the clear message"),
    M("compat-python314-allowed", "_compat", "SUPPORTED_PYTHON = ((3, 10), (3, 13))",
      "SUPPORTED_PYTHON = ((3, 10), (3, 14))", "Python 3.14 is not refused with the clear message"),
    M("compat-wrong-alias", "_compat", '"bool": bool,', '"bool": int,',
      "numpy.bool restored to the wrong builtin"),
    M("compat-ninf-sign", "_compat", '"NINF": float("-inf"),', '"NINF": float("inf"),',
      "NINF restored as +inf"),
    M("compat-numpy2-repr-kept", "_compat", "        return str(value)\n    if isinstance(value, (tuple, list)):",
      "        return repr(value)\n    if isinstance(value, (tuple, list)):",
      "operator parameters keep NumPy 2's scalar repr (np.int64(1))"),
    M("compat-random-out-dtype-ignored", "_compat", 'kwargs["dtype"] = out.dtype', 'kwargs["dtype"] = None',
      "random draws into a float64 out= array keep failing (MXNet's float32 default)"),
    M("compat-singleton-tuple", "_compat", '("," if len(value) == 1 else "")', '""',
      "a one-element tuple parameter written without its comma"),
    # --- utils
    M("utils-below-inclusive", "utils", "    if abs(x) < bound:", "    if abs(x) <= bound:",
      "below() hides a value equal to the bound"),
    M("utils-numpy-not-seeded", "utils", "    onp.random.seed(n)\n", "",
      "seed() forgets NumPy's generator (DataLoader shuffling)"),
    M("utils-try-gpu-off-by-one", "utils", "if num_gpus() >= i + 1:", "if num_gpus() >= i:",
      "try_gpu(i) returns a GPU that does not exist"),
    M("utils-timer-avg-off-by-one", "utils", "sum(self.times) / len(self.times)",
      "sum(self.times) / (len(self.times) + 1)", "Timer.avg divides by n + 1"),
    # --- plotting
    M("plotting-path-simplified", "plotting", '    mpl.rcParams["path.simplify"] = False\n', "",
      "figures keep matplotlib's path simplification (rounding decides which vertices are written)"),
    M("plotting-svg-date", "plotting", 'metadata={"Date": None}', "metadata={}",
      "SVG figures carry their creation date (not reproducible)"),
    M("plotting-no-hashsalt", "plotting", 'mpl.rcParams["svg.hashsalt"] = SVG_HASHSALT',
      "pass", "SVG ids random from run to run"),
    # --- activations
    M("act-sigmoid-sign", "activations", "e_neg / (1 + e_neg)", "e_neg / (1 - e_neg)",
      "sigmoid's x <= 0 branch with a flipped sign"),
    M("act-selu-constants-swapped", "activations", "SELU_LAMBDA * elu(x, SELU_ALPHA)",
      "SELU_ALPHA * elu(x, SELU_LAMBDA)", "SELU's alpha and lambda swapped"),
    M("act-rrelu-eval-slope", "activations", "slope = (lower + upper) / 2", "slope = lower",
      "RReLU at test time uses the lower bound, not the mean slope"),
    M("act-gelu-sqrt2", "activations", "npx.erf(x / math.sqrt(2.0))", "npx.erf(x / 2.0)",
      "GELU with erf(x/2) instead of erf(x/sqrt 2)"),
    M("act-leaky-slope-sign", "activations",
      'alpha = check.non_negative("alpha", alpha)\n    return np.where(x > 0, x, alpha * x)',
      'alpha = check.non_negative("alpha", alpha)\n    return np.where(x > 0, x, -alpha * x)',
      "leaky ReLU's negative slope flipped"),
    M("act-maxout-axis", "activations", "return grouped.max(axis=axis + 1)",
      "return grouped.max(axis=axis)", "maxout reduces over the wrong axis"),
    # --- init
    M("init-fans-swapped", "init", "return shape[1] * receptive, shape[0] * receptive",
      "return shape[0] * receptive, shape[1] * receptive", "fan_in and fan_out swapped"),
    M("init-fan-avg-not-halved", "init", '"fan_avg": (fan_in + fan_out) / 2',
      '"fan_avg": (fan_in + fan_out)', "fan_avg is the sum, not the mean"),
    M("init-uniform-limit", "init", "limit = math.sqrt(3.0 * var)", "limit = math.sqrt(var)",
      "uniform limit sqrt(var) instead of sqrt(3 var)"),
    M("init-truncation-correction-dropped", "init", "std = math.sqrt(var) / TRUNCATED_NORMAL_STD",
      "std = math.sqrt(var)", "truncated normal not rescaled to the target variance"),
    M("init-he-gain", "init", 'return variance_scaling(shape, 2.0, mode, "normal")',
      'return variance_scaling(shape, 1.0, mode, "normal")', "He normal with LeCun's variance"),
    # --- optim
    M("optim-momentum-ignored", "optim", "v *= self.momentum                         #",
      "v *= 1.0                                   #", "SGD's velocity never decays"),
    M("optim-nesterov-is-heavy-ball", "optim", "p -= self.lr * (g + self.momentum * v)  #",
      "p -= self.lr * v                        #", "Nesterov update replaced by heavy ball"),
    M("optim-adagrad-no-accumulation", "optim", "s += g * g                            #",
      "s[:] = g * g                          #", "AdaGrad forgets past gradients"),
    M("optim-rmsprop-rho-swapped", "optim", "s += (1 - self.rho) * g * g",
      "s += self.rho * g * g", "RMSProp weights the new g^2 by rho"),
    M("optim-adam-no-bias-correction", "optim", "c1, c2 = 1 - self.beta1 ** t, 1 - self.beta2 ** t",
      "c1, c2 = 1.0, 1.0", "Adam without bias correction"),
    M("optim-adam-step-off-by-one", "optim", "t = self.t + 1", "t = self.t + 2",
      "Adam's bias correction one step ahead"),
    M("optim-weight-decay-sign", "optim", "g = g + self.weight_decay * p", "g = g - self.weight_decay * p",
      "weight decay pushes weights away from 0"),
    M("optim-schedule-step-off-by-one", "optim", "value = self.lr_schedule(self.t)",
      "value = self.lr_schedule(self.t + 1)", "schedule asked with updates done + 1 (MXNet's count)"),
    M("optim-zero-grad-noop", "optim", "            g[:] = 0\n", "            pass\n",
      "zero_grad() leaves the gradients"),
    # --- schedules
    M("sched-piecewise-boundary", "schedules", "if step <= boundary:", "if step < boundary:",
      "piecewise_constant switches one step early"),
    M("sched-staircase-ceil", "schedules", "return math.floor(ratio) if staircase else ratio",
      "return math.ceil(ratio) if staircase else ratio", "staircase rounds up"),
    M("sched-cosine-ignores-warmup", "schedules",
      "frac = (step - warmup_steps) / (total_steps - warmup_steps)", "frac = step / total_steps",
      "cosine phase does not start after the warm-up"),
    M("sched-linear-no-clamp", "schedules", "a = min(step / end_step, 1.0)", "a = step / end_step",
      "linear_decay keeps decaying past end_step"),
    M("sched-per-epoch-off-by-one", "schedules", "return epoch_schedule(step // updates_per_epoch)",
      "return epoch_schedule((step + 1) // updates_per_epoch)", "per_epoch changes epoch one update early"),
    # --- regularization
    M("reg-dropout-not-inverted", "regularization", "return X * mask / (1.0 - p) if inverted else X * mask",
      "return X * mask if inverted else X * mask", "inverted dropout without the 1/(1-p) scaling"),
    M("reg-dropout-keep-prob", "regularization", ">= p  # P(keep) = 1 - p", ">= 1 - p  # P(keep) = p",
      "dropout keeps with probability p instead of 1 - p"),
    M("reg-traditional-eval-unscaled", "regularization", "return X if inverted else X * (1.0 - p)",
      "return X if inverted else X", "traditional dropout not scaled at test time"),
    M("reg-l2-no-half", "regularization", "    return total / 2\n", "    return total\n",
      "l2_penalty without the 1/2"),
    M("reg-early-stopping-patience", "regularization", "if self.wait >= self.patience:",
      "if self.wait > self.patience:", "EarlyStopping waits one epoch too many"),
    M("reg-early-stopping-no-restore", "regularization",
      "data[:] = saved  # in place", "pass  # in place", "EarlyStopping does not restore the best weights"),
    M("reg-soft-threshold-half", "regularization", "np.maximum(abs(w) - threshold, 0)",
      "np.maximum(abs(w) - threshold / 2, 0)", "soft threshold shrinks by t/2"),
    # --- batchnorm
    M("bn-momentum-convention", "batchnorm",
      "new_mean = momentum * moving_mean + (1.0 - momentum) * mean",
      "new_mean = (1.0 - momentum) * moving_mean + momentum * mean",
      "moving mean with PyTorch's meaning of momentum"),
    M("bn-unbiased-variance", "batchnorm", "var = ((X - mean) ** 2).mean(axis=axes, keepdims=True)",
      "var = ((X - mean) ** 2).sum(axis=axes, keepdims=True) / (X.size // X.shape[1] - 1)",
      "batch variance unbiased (n - 1) instead of MXNet's biased one"),
    M("bn-eps-outside-root", "batchnorm", "X_hat = (X - mean) / np.sqrt(var + eps)",
      "X_hat = (X - mean) / (np.sqrt(var) + eps)", "eps added outside the square root"),
    M("bn-conv-axes", "batchnorm", "axes = (0,) if X.ndim == 2 else (0, 2, 3)",
      "axes = (0,) if X.ndim == 2 else (0, 2)", "conv statistics miss the width axis"),
    M("bn-fold-mean-dropped", "batchnorm", 'new_b = scale * (b - f64["moving_mean"]) + f64["beta"]',
      'new_b = scale * b + f64["beta"]', "folded bias ignores the moving mean"),
    # --- gradcheck
    M("gc-one-sided-denominator", "gradcheck", "grad[idx] = (f_plus - f_minus) / (2 * eps)",
      "grad[idx] = (f_plus - f_minus) / eps", "central difference divided by eps, not 2 eps"),
    M("gc-relative-denominator", "gradcheck", "denom = onp.linalg.norm(a) + onp.linalg.norm(b)",
      "denom = onp.linalg.norm(a)", "relative difference normalised by ||a|| only"),
    M("gc-no-restore", "gradcheck", "                _set(w, idx, base[idx])\n                num[j]",
      "                num[j]", "check_gradients leaves each coordinate at theta - eps"),
    M("gc-threshold", "gradcheck", 'THRESHOLDS = {"fine": 1e-6, "look closer": 1e-4}',
      'THRESHOLDS = {"fine": 1e-4, "look closer": 1e-2}', "verdict thresholds 100x too lax"),
    M("gc-backward-default-mode", "gradcheck", "out.backward(train_mode=training)", "out.backward()",
      "the backward pass runs in MXNet's default (training) mode whatever the forward's mode"),
    # --- repeats
    M("rep-unseeded", "repeats", "        _seed(s)\n", "",
      "repeat() no longer seeds before each run"),
    M("rep-population-std", "repeats",
      "return self._stat(onp.std, ddof=1)\n\n    @property\n    def min",
      "return self._stat(onp.std)\n\n    @property\n    def min",
      "Spread.std is the population (ddof=0) standard deviation"),
    M("rep-normal-not-t", "repeats", "half = _t_quantile(0.5 + level / 2, n - 1) * self.diff.sem",
      "half = 1.96 * self.diff.sem", "compare() uses the normal quantile for 5 seeds, not Student's t"),
    M("rep-order-by-mean", "repeats", "if self.low > 0:", "if self.diff.mean > 0:",
      "compare() declares an order whenever the mean difference is positive"),
    # --- diagnostics
    M("diag-clip-comparison", "diagnostics", "if math.isfinite(total) and total > max_norm:",
      "if math.isfinite(total) and total < max_norm:", "clip_grad_norm clips the small norms"),
    M("diag-grad-norm-no-sqrt", "diagnostics",
      "return math.sqrt(sum(float((g * g).sum()) for g in _grads(params)))",
      "return sum(float((g * g).sum()) for g in _grads(params))", "grad_norm returns the squared norm"),
    M("diag-dead-axis", "diagnostics", "dead += int(((flat != 0).sum(axis=0) == 0).sum())",
      "dead += int(((flat != 0).sum(axis=1) == 0).sum())", "dead units counted over rows, not units"),
    M("diag-sigmoid-saturation", "diagnostics", "SIGMOID_SATURATION = 0.0025", "SIGMOID_SATURATION = 0.025",
      "sigmoid saturation threshold 10x too wide"),
    M("diag-grad-norms-sum", "diagnostics", "l = l.mean() if l.ndim else l", "l = l.sum() if l.ndim else l",
      "layer_grad_norms back-propagates the summed loss"),
    # --- train
    M("train-binary-argmax", "train", "if y_hat.ndim > 1 and y_hat.shape[1] > 1:", "if y_hat.ndim > 1:",
      "accuracy takes the argmax of a single logit column"),
    M("train-mean-loss", "train", "objective = l if gluon_trainer else (l.mean() if l.ndim else l)",
      "objective = l if gluon_trainer else (l.sum() if l.ndim else l)",
      "from-scratch optimizers get the summed, not the mean, loss"),
    M("train-trainer-step-size", "train", "trainer.step(n)", "trainer.step(1)",
      "gluon.Trainer not told the batch size"),
    M("train-loss-batch-mean", "train", "onp.full(l.size, 1.0 if l.ndim else n)",
      "onp.full(l.size, 1.0 / l.size if l.ndim else n)", "losses added as minibatch means, not sums"),
    M("train-nan-not-propagated", "train", '(total if math.isfinite(total) else float("nan"))',
      "total", "a non-finite minibatch loss no longer makes the epoch's loss nan"),
    M("train-fuses-hooked-net", "train",
      "and not any(b._forward_hooks or b._forward_pre_hooks for b in blocks))", ")",
      "fit runs a net with forward hooks inside a graph (its hooks see symbols, once)"),
    M("train-fused-drops-flags", "train", "block._active = True", "block._active = False",
      "fit's net-and-loss block is never hybridized (no graph, same numbers: only slower)"),
    M("train-callback-stop-ignored", "train", "            if stop:\n                break",
      "            if stop:\n                pass", "fit ignores a callback's request to stop"),
    # --- data
    M("data-loader-drops-order", "data", "order = np.array(onp.concatenate(batches).astype(onp.int64), dtype=\"int64\")",
      "order = np.array(onp.sort(onp.concatenate(batches)).astype(onp.int64), dtype=\"int64\")",
      "ArrayLoader ignores the shuffle"),
    M("data-loader-views", "data", "rows = [c.take(order, axis=0) for c in self._columns]",
      "rows = self._columns", "ArrayLoader hands out slices of the data set itself (and ignores the order)"),
    M("data-loader-off-by-one", "data", "stop = start + len(batch)\n", "stop = start + len(batch) + 1\n",
      "ArrayLoader's batches overlap by one row"),
    M("data-digits-scale", "data", "X = (digits.data / 16.0).astype(dtype)",
      "X = (digits.data / 15.0).astype(dtype)", "digits scaled by 1/15, beyond [0, 1]"),
    M("data-digits-dtype-ignored", "data", "X = (digits.data / 16.0).astype(dtype)",
      "X = (digits.data / 16.0).astype(onp.float32)", "load_digits ignores dtype (always float32)"),
    M("data-not-stratified", "data", "random_state=seed, stratify=y)", "random_state=seed)",
      "digits split not stratified"),
    M("data-length-check-dropped", "data", "if features.shape[0] != labels.shape[0]:", "if False:",
      "load_array accepts features and labels of different lengths"),
    M("data-fashion-scale", "data", "[:, None, :, :] / 255.0", "[:, None, :, :] / 256.0",
      "Fashion-MNIST pixels scaled by 1/256"),
    # --- subtle ones: near-equivalent or equivalent edits, to measure what the tests cannot see
    M("subtle-orthogonal-no-sign-fix", "init", "q = q * onp.sign(onp.diag(r))", "q = q",
      "orthogonal init without Mezzadri's sign fix (still orthogonal, not Haar)"),
    M("subtle-adam-fused-eps", "optim", "epsilon=self.eps * root_c2", "epsilon=self.eps",
      "fused Adam with MXNet's eps (moved by sqrt(1 - beta2^t))"),
    M("subtle-max-norm-at-boundary", "regularization", "too_big = norms > max_norm",
      "too_big = norms >= max_norm", "max_norm_ also 'rescales' rows exactly on the ball"),
    M("subtle-clip-no-epsilon", "diagnostics", "scale = max_norm / (total + 1e-12)",
      "scale = max_norm / total", "clip_grad_norm without the 1e-12 guard"),
    M("subtle-early-stopping-min-delta-sign", "regularization",
      "return value < self.best_value - self.min_delta", "return value < self.best_value + self.min_delta",
      "EarlyStopping counts a worsening within min_delta as improvement"),
    M("subtle-gradcheck-unsorted-samples", "gradcheck",
      "flat = onp.sort(onp.random.choice(size, samples_per_param, replace=False))",
      "flat = onp.random.choice(size, samples_per_param, replace=False)",
      "sampled coordinates checked in random order"),
    M("subtle-cosine-end-inclusive", "schedules", "if step > total_steps:", "if step >= total_steps:",
      "cosine_decay returns lr_end from step T on (cos(pi) already gives it)"),
    M("subtle-fit-no-zero-grad", "train", "                    trainer.step()\n                    trainer.zero_grad()\n",
      "                    trainer.step()\n", "fit never zeroes a from-scratch optimizer's gradients"),
]

# Survivors we have reviewed: id -> why it may survive (equivalent, or accepted).
ACCEPTED = {
    "subtle-clip-no-epsilon":
        "equivalent: the branch runs only when total > max_norm > 0, so the guard never prevents "
        "a division by zero; the scale changes by a factor 1 + 1e-12/total, far below float32 resolution",
    "subtle-cosine-end-inclusive":
        "equivalent: at step = total_steps the cosine branch gives lr_end + (lr0 - lr_end) * (1 + cos(pi)) / 2 "
        "= lr_end exactly, the value the mutant returns",
}


def module_path(module, root=ROOT):
    return root / PACKAGE / f"{module}.py"


def check_mutants(mutants, root=ROOT):
    """Problems: duplicate ids, unknown modules, texts not found exactly once."""
    problems, seen = [], set()
    for m in mutants:
        if m.id in seen:
            problems.append(f"{m.id}: duplicate id")
        seen.add(m.id)
        path = module_path(m.module, root)
        if not path.exists():
            problems.append(f"{m.id}: no module {path.relative_to(root)}")
            continue
        count = path.read_text().count(m.old)
        if count != 1:
            problems.append(f"{m.id}: its text occurs {count} times in {path.relative_to(root)} "
                            "(the code changed: update the mutant in tools/mutate.py)")
        if m.old == m.new:
            problems.append(f"{m.id}: the mutant changes nothing")
        elif count == 1:
            try:  # a mutant that does not even compile would be a free kill
                compile(path.read_text().replace(m.old, m.new), str(path), "exec")
            except SyntaxError as exc:
                problems.append(f"{m.id}: the mutated module does not compile ({exc})")
    for key in ACCEPTED:
        if key not in seen:
            problems.append(f"ACCEPTED[{key!r}] names no mutant")
    return problems


# ---------------------------------------------------------------- relevance
def _package_modules(root):
    return sorted(p.stem for p in (root / PACKAGE).glob("*.py") if p.stem != "__init__")


def _imports(root):
    """module -> the d2lstab modules it imports."""
    deps = {}
    for mod in _package_modules(root):
        text = module_path(mod, root).read_text()
        found = set(re.findall(r"from \.(\w+) import", text))
        for names in re.findall(r"from \. import ([\w ,]+)", text):
            found.update(n.split(" as ")[0].strip() for n in names.split(","))
        deps[mod] = found & set(_package_modules(root))
    return deps


def _users(module, root):
    """Modules that use ``module``, directly or transitively (itself included)."""
    deps = _imports(root)
    users, changed = {module}, True
    while changed:
        changed = False
        for mod, uses in deps.items():
            if mod not in users and uses & users:
                users.add(mod)
                changed = True
    return users


def _mentions(text, modules):
    """How often ``text`` refers to any of ``modules`` of d2lstab."""
    n = 0
    for mod in modules:
        n += len(re.findall(rf"\b(?:d2l|d2lstab)\.{mod}\b", text))
        n += len(re.findall(rf"from d2lstab(?:\.{mod} import|\s+import [^\n]*\b{mod}\b)", text))
        for name in TOP_LEVEL.get(mod, []):
            n += len(re.findall(rf"\bd2l\.{name}\b", text))
        if mod.startswith("_"):
            n += 1 if re.search(r"import d2lstab|from d2lstab", text) else 0
    return n


def relevant_tests(module, root=ROOT):
    """Unit-test files to run for a mutant of ``module``: its own first, then users, most mentions first."""
    users = _users(module, root)
    own = root / "tests" / f"test_{module.lstrip('_')}.py"
    scored = []
    for path in sorted((root / "tests").glob("test_*.py")):
        if path.name in SKIP_TESTS or path == own:
            continue
        n = _mentions(path.read_text(), users)
        if n:
            scored.append((-n, path.name, path))
    ordered = ([own] if own.exists() else []) + [p for _, _, p in sorted(scored)]
    if module in ("_validate", "utils") and (root / "tests" / "test_core.py").exists():
        core = root / "tests" / "test_core.py"
        ordered = [core] + [p for p in ordered if p != core]
    return ordered


def toc_chapters(root=ROOT):
    return nbtools.toc_chapters(root)


def relevant_chapters(module, root=ROOT):
    """Chapters (in _toc.yml) that use ``module`` directly or through another module, most mentions first."""
    import nbformat

    users = _users(module, root)
    scored = []
    for i, path in enumerate(toc_chapters(root)):
        nb = nbformat.read(str(path), 4)
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        n = _mentions(code, users)
        if n:
            scored.append((-n, i, path))
    return [p for _, _, p in sorted(scored)]


# ---------------------------------------------------------------- running
def make_copy(dest):
    """A copy of the checkout to mutate (no .git, virtualenvs or build output)."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(
        ".git", ".venv*", "_build", ".mutation", "__pycache__", "*.egg-info", "build", "dist",
        ".pytest_cache", "docs", ".ipynb_checkpoints"))
    return dest


def environment(copy):
    env = {**os.environ, **nbtools.nbval_env(copy)}  # the copy's tools/ (nbval_figures)
    env["PYTHONPATH"] = str(copy) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # a mutant must never be shadowed by a cached .pyc
    return env


def check_copy_imports_itself(copy):
    probe = subprocess.run([sys.executable, "-c", "import d2lstab; print(d2lstab.__file__)"],
                           cwd=copy / "chapters", env=environment(copy),
                           capture_output=True, text=True, timeout=300)
    where = probe.stdout.strip()
    if probe.returncode != 0 or not where.startswith(str(copy)):
        raise SystemExit(f"the copy does not import its own d2lstab (got {where!r}; {probe.stderr[-500:]})")


def _pytest(copy, args, timeout):
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
           "--basetemp", str(copy / ".pytest-tmp")] + args  # each copy its own temporary folders
    tic = time.perf_counter()
    try:
        result = subprocess.run(cmd, cwd=copy, env=environment(copy), capture_output=True,
                                text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.perf_counter() - tic, ""
    return result.returncode, time.perf_counter() - tic, result.stdout[-3000:] + result.stderr[-2000:]


def nbval_args(copy, chapter):
    return nbtools.nbval_args(copy) + [str(chapter.relative_to(copy))]


def steps_for(module, copy, with_nbval=True):
    tests = relevant_tests(module, copy)
    steps = []
    if tests:
        steps.append(("unit: " + " ".join(p.name for p in tests), [str(p.relative_to(copy)) for p in tests], 900))
    if with_nbval:
        for chapter in relevant_chapters(module, copy):
            steps.append((f"nbval: {chapter.name}", nbval_args(copy, chapter), 1200))
    return steps


def run_mutant(m, copy, with_nbval=True):
    """Apply ``m`` to ``copy``, run the steps until one fails, restore; return a result dict."""
    path = module_path(m.module, copy)
    original = path.read_text()
    assert original.count(m.old) == 1, m.id
    path.write_text(original.replace(m.old, m.new))
    shutil.rmtree(path.parent / "__pycache__", ignore_errors=True)
    result = {"id": m.id, "module": m.module, "what": m.what, "status": "survived",
              "killed_by": None, "seconds": 0.0, "steps_run": 0}
    try:
        for label, args, timeout in steps_for(m.module, copy, with_nbval):
            code, seconds, output = _pytest(copy, args, timeout)
            result["seconds"] += seconds
            result["steps_run"] += 1
            if code == "timeout":
                result.update(status="killed", killed_by=f"{label} (time-out)")
                break
            if code in (1, 2):  # tests failed / collection (import) error: the mutant is caught
                if label.startswith("nbval"):
                    _confirm_kill(m, path, original, copy, label, args, timeout, output)
                result.update(status="killed", killed_by=label, detail=_first_failure(output))
                break
            if code != 0:
                raise SystemExit(f"{m.id}: pytest exited {code} on {label}:\n{output}")
    finally:
        path.write_text(original)
        shutil.rmtree(path.parent / "__pycache__", ignore_errors=True)
    if result["status"] == "survived" and m.id in ACCEPTED:
        result["accepted"] = ACCEPTED[m.id]
    return result


def _confirm_kill(m, path, original, copy, label, args, timeout, output):
    """A chapter that failed with the mutant must pass without it, or the kill proves nothing
    (a chapter whose output changes from run to run would 'kill' every mutant). The chapters
    are not run unmutated up front (make test does that), so check here, when it matters."""
    mutated = path.read_text()
    path.write_text(original)
    try:
        code, _, clean_output = _pytest(copy, args, timeout)
    finally:
        path.write_text(mutated)
    if code != 0:
        raise SystemExit(
            f"{m.id}: {label} fails without the mutant too, so it cannot judge mutants; the chapter's "
            f"output is not reproducible (fix the chapter):\n{clean_output[-3000:]}")


def _first_failure(output):
    for line in output.splitlines():
        if line.startswith(("FAILED", "ERROR")):
            return line[:200]
    return ""


def baseline(module, with_nbval, copy):
    """The steps of ``module``'s mutants must pass on the unmutated copy (in the same order,
    so a test that depends on what ran before it cannot pass for a kill); return seconds."""
    total = 0.0
    for label, args, timeout in steps_for(module, copy, with_nbval):
        code, seconds, output = _pytest(copy, args, timeout)
        total += seconds
        if code != 0:
            raise SystemExit(f"baseline of {module}: {label} fails without any mutant "
                             f"({seconds:.0f} s), so its mutants cannot be judged:\n{output}")
    return total


def summarize(results):
    killed = sum(r["status"] == "killed" for r in results)
    total = len(results)
    return killed, total, (100.0 * killed / total if total else 0.0)


def markdown(report):
    killed, total, score = summarize(report["results"])
    lines = [f"Mutation score: **{score:.1f}%** ({killed} of {total} mutants killed; "
             f"run of {report['date']}, {report['minutes']:.1f} min on {report['machine']}).", "",
             "| mutant | module | the bug | result |", "| --- | --- | --- | --- |"]
    for r in report["results"]:
        if r["status"] == "killed":
            found = re.search(r"(?:FAILED|ERROR) (\S+(?: \d+)?)", r.get("detail") or "")
            where = found.group(1).split("/")[-1] if found else r["killed_by"]
            outcome = f"killed by `{where}`"
        else:
            outcome = "**survived**: " + r.get("accepted", "NOT EXPLAINED")
        lines.append(f"| `{r['id']}` | {r['module']} | {r['what']} | {outcome} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check that every mutant applies")
    parser.add_argument("--only", nargs="*", help="mutant ids to run")
    parser.add_argument("--module", help="run the mutants of one module")
    parser.add_argument("--no-nbval", action="store_true", help="unit tests only (a quick look)")
    parser.add_argument("--baseline-nbval", action="store_true",
                        help="also run nbval unmutated first (CI has just run it in make test)")
    parser.add_argument("--min-score", type=float, default=85.0)
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="mutants run at once, each in its own copy (default: 2, or 1 on one core)")
    parser.add_argument("--markdown", action="store_true", help="print the table of the last run")
    parser.add_argument("--list", action="store_true", help="list the mutants and their test plan")
    args = parser.parse_args(argv)

    report_path = WORK / "report.json"
    if args.markdown:
        print(markdown(json.loads(report_path.read_text())))
        return 0
    problems = check_mutants(MUTANTS)
    if problems:
        print("stale or broken mutants:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    if args.check:
        print(f"{len(MUTANTS)} mutants apply cleanly")
        return 0
    chosen = [m for m in MUTANTS if (not args.only or m.id in args.only)
              and (not args.module or m.module == args.module)]
    if args.list:
        for m in chosen:
            plan = [s[0] for s in steps_for(m.module, ROOT, not args.no_nbval)]
            print(f"{m.id}: {m.what}\n    " + "\n    ".join(plan))
        return 0

    tic = time.perf_counter()
    jobs = max(1, min(args.jobs, len(chosen)))
    copies = queue.Queue()
    for j in range(jobs):
        copy = make_copy(WORK / f"work{j}")
        check_copy_imports_itself(copy)
        copies.put(copy)

    def on_a_copy(task, *task_args):
        copy = copies.get()
        try:
            return task(*task_args, copy)
        finally:
            copies.put(copy)

    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        # Every module's steps pass unmutated before any of its mutants runs.
        modules = list(dict.fromkeys(m.module for m in chosen))
        with_baseline_nbval = args.baseline_nbval and not args.no_nbval
        for module, seconds in zip(modules, pool.map(
                lambda mod: on_a_copy(baseline, mod, with_baseline_nbval), modules)):
            print(f"baseline {module}: passes without mutants ({seconds:.0f} s)", flush=True)
        futures = {pool.submit(on_a_copy, lambda m, copy: run_mutant(m, copy, with_nbval=not args.no_nbval), m): i
                   for i, m in enumerate(chosen)}
        results = [None] * len(chosen)
        for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
            r = future.result()
            results[futures[future]] = r
            where = r["killed_by"] or ("accepted: " + r["accepted"] if r.get("accepted") else "NOT EXPLAINED")
            print(f"[{done:2d}/{len(chosen)}] {r['status']:8s} {r['id']:40s} {r['seconds']:6.1f} s  {where}",
                  flush=True)
    minutes = (time.perf_counter() - tic) / 60
    report = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "minutes": minutes,
              "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}",
              "jobs": jobs, "nbval": not args.no_nbval, "results": results}
    WORK.mkdir(exist_ok=True)
    report_path.write_text(json.dumps(report, indent=1))
    while not copies.empty():
        shutil.rmtree(copies.get(), ignore_errors=True)

    killed, total, score = summarize(results)
    unexplained = [r["id"] for r in results if r["status"] == "survived" and not r.get("accepted")]
    print(f"mutation score {score:.1f}%: {killed} of {total} mutants killed in {minutes:.1f} min")
    if unexplained:
        print("survivors with no explanation in ACCEPTED: " + ", ".join(unexplained))
    if args.only or args.module:
        return 0 if not unexplained else 1
    return 0 if score >= args.min_score and not unexplained else 1


if __name__ == "__main__":
    sys.exit(main())
