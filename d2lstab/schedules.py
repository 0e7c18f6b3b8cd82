"""Learning-rate schedules (chapter "Learning-rate schedules").

Each function returns a callable ``schedule(step) -> float`` with ``step`` an
int >= 0. Pass it as ``lr_schedule=`` to a ``d2lstab.optim`` optimizer, which
asks it before every update with the number of updates done so far (0 for the
first): here a *step is one minibatch update*, not an epoch. ``per_epoch``
turns a schedule written in epochs into one over updates.

MXNet's ``lr_scheduler`` classes count differently: ``gluon.Trainer`` calls
them with the number of updates *including* the current one (1 for the first),
so the rate MXNet uses for update ``k`` (0-based) is ``scheduler(k + 1)``.
"""
import math

from . import _validate as check

__all__ = ["Schedule", "piecewise_constant", "exponential_decay", "inverse_time_decay",
           "linear_decay", "cosine_decay", "per_epoch"]


class Schedule:
    """A learning-rate schedule: ``schedule(step) -> float`` with a readable ``repr``.

    Checks that ``step`` is an int >= 0 before asking the formula.
    """

    def __init__(self, formula, description):
        self._formula = formula
        self.description = description

    def __call__(self, step):
        return float(self._formula(check.integer("step", step, minimum=0)))

    def __repr__(self):
        return self.description


def piecewise_constant(boundaries, values):
    """``values[i]`` while ``step <= boundaries[i]``; ``values[-1]`` after the last boundary.

    The Keras ``PiecewiseConstantDecay`` convention: with boundaries
    ``[b0, b1]`` and values ``[v0, v1, v2]`` the rate is ``v0`` for
    ``step <= b0``, ``v1`` for ``b0 < step <= b1`` and ``v2`` afterwards.
    MXNet's ``MultiFactorScheduler(step=[b0, b1], factor=f, base_lr=v0)``
    gives the same rates at the same argument with ``values = [v0, v0*f, v0*f**2]``.
    ``boundaries`` must be strictly increasing ints >= 0 and
    ``len(values) == len(boundaries) + 1``.
    """
    if isinstance(boundaries, (str, bytes)) or not hasattr(boundaries, "__len__"):
        raise TypeError(f"boundaries must be a list of ints, got {type(boundaries).__name__}")
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise TypeError(f"values must be a list of numbers, got {type(values).__name__}")
    boundaries = [check.integer(f"boundaries[{i}]", b, minimum=0) for i, b in enumerate(boundaries)]
    for i in range(1, len(boundaries)):
        if boundaries[i] <= boundaries[i - 1]:
            raise ValueError(f"boundaries must be strictly increasing, got {boundaries}")
    values = [check.non_negative(f"values[{i}]", v) for i, v in enumerate(values)]
    if len(values) != len(boundaries) + 1:
        raise ValueError(
            f"values must have len(boundaries) + 1 = {len(boundaries) + 1} entries "
            f"(one per interval), got {len(values)} values for {len(boundaries)} boundaries")

    def schedule(step):
        for boundary, value in zip(boundaries, values):
            if step <= boundary:
                return value
        return values[-1]

    return Schedule(schedule, f"piecewise_constant({boundaries}, {values})")


def _decay_args(lr0, decay_rate, decay_steps, staircase):
    lr0 = check.non_negative("lr0", lr0)
    decay_rate = check.non_negative("decay_rate", decay_rate)
    decay_steps = check.positive("decay_steps", decay_steps)
    staircase = check.boolean("staircase", staircase)
    return lr0, decay_rate, decay_steps, staircase


def _progress(step, decay_steps, staircase):
    ratio = step / decay_steps
    return math.floor(ratio) if staircase else ratio


def exponential_decay(lr0, decay_rate, decay_steps, staircase=False):
    """``lr0 * decay_rate ** (step / decay_steps)``; the exponent floored if ``staircase``.

    The rate is multiplied by ``decay_rate`` every ``decay_steps`` updates
    (Keras ``ExponentialDecay``). With ``staircase=True`` it equals MXNet's
    ``FactorScheduler(step=decay_steps, factor=decay_rate)`` as
    ``gluon.Trainer`` applies it (``scheduler(k + 1)`` for update ``k``).
    """
    lr0, decay_rate, decay_steps, staircase = _decay_args(lr0, decay_rate, decay_steps, staircase)

    def schedule(step):
        return lr0 * decay_rate ** _progress(step, decay_steps, staircase)

    return Schedule(schedule, f"exponential_decay({lr0}, {decay_rate}, {decay_steps}, staircase={staircase})")


def inverse_time_decay(lr0, decay_rate, decay_steps, staircase=False):
    """``lr0 / (1 + decay_rate * step / decay_steps)`` (the "1/t" decay, Keras ``InverseTimeDecay``).

    ``step / decay_steps`` is floored if ``staircase``. For large ``step`` the
    rate falls like ``1/t``, the classic choice satisfying Robbins and Monro's
    (1951) conditions: the rates sum to infinity, their squares do not.
    """
    lr0, decay_rate, decay_steps, staircase = _decay_args(lr0, decay_rate, decay_steps, staircase)

    def schedule(step):
        return lr0 / (1 + decay_rate * _progress(step, decay_steps, staircase))

    return Schedule(schedule, f"inverse_time_decay({lr0}, {decay_rate}, {decay_steps}, staircase={staircase})")


def linear_decay(lr0, lr_end, end_step):
    """``(1 - a) * lr0 + a * lr_end`` with ``a = min(step / end_step, 1)``.

    The rule of Goodfellow, Bengio and Courville (2016, section 8.3.1): decay
    linearly to ``lr_end`` (about 1% of ``lr0``) over ``end_step`` updates,
    constant afterwards. Equals MXNet's ``PolyScheduler(max_update=end_step,
    base_lr=lr0, final_lr=lr_end, pwr=1)`` at the same argument.
    """
    lr0 = check.non_negative("lr0", lr0)
    lr_end = check.non_negative("lr_end", lr_end)
    end_step = check.integer("end_step", end_step, minimum=1)

    def schedule(step):
        a = min(step / end_step, 1.0)
        return (1 - a) * lr0 + a * lr_end

    return Schedule(schedule, f"linear_decay({lr0}, {lr_end}, {end_step})")


def cosine_decay(lr0, total_steps, lr_end=0.0, warmup_steps=0):
    """Linear warm-up from 0, then a half cosine from ``lr0`` down to ``lr_end``.

    With ``w = warmup_steps`` and ``T = total_steps``::

        step < w:       lr0 * step / w
        w <= step <= T: lr_end + (lr0 - lr_end) * (1 + cos(pi * (step - w) / (T - w))) / 2
        step > T:       lr_end

    Cosine annealing is from Loshchilov and Hutter (2017, SGDR, without
    restarts here); the warm-up from Goyal et al. (2017). Equals MXNet's
    ``CosineScheduler(max_update=T, base_lr=lr0, final_lr=lr_end,
    warmup_steps=w)`` at the same argument. Requires ``0 <= w < T``.
    """
    lr0 = check.non_negative("lr0", lr0)
    total_steps = check.integer("total_steps", total_steps, minimum=1)
    lr_end = check.non_negative("lr_end", lr_end)
    warmup_steps = check.integer("warmup_steps", warmup_steps, minimum=0)
    if warmup_steps >= total_steps:
        raise ValueError(
            f"warmup_steps must be < total_steps = {total_steps}, got {warmup_steps}")

    def schedule(step):
        if step < warmup_steps:
            return lr0 * step / warmup_steps
        if step > total_steps:
            return lr_end
        frac = (step - warmup_steps) / (total_steps - warmup_steps)
        return lr_end + (lr0 - lr_end) * (1 + math.cos(math.pi * frac)) / 2

    return Schedule(schedule, f"cosine_decay({lr0}, {total_steps}, lr_end={lr_end}, warmup_steps={warmup_steps})")


def per_epoch(epoch_schedule, updates_per_epoch):
    """A schedule over updates that holds ``epoch_schedule(epoch)`` for a whole epoch.

    ``epoch_schedule`` is written in epochs (0 for the first); the result is
    asked with the update count, as optimizers ask, and returns
    ``epoch_schedule(step // updates_per_epoch)``. ``updates_per_epoch`` is
    ``len(train_iter)``, the number of minibatches per epoch (a last partial
    batch counts as one update).
    """
    check.callable_("epoch_schedule", epoch_schedule)
    updates_per_epoch = check.integer("updates_per_epoch", updates_per_epoch, minimum=1)

    def schedule(step):
        return epoch_schedule(step // updates_per_epoch)

    return Schedule(schedule, f"per_epoch({epoch_schedule!r}, {updates_per_epoch})")
