"""d2lstab.schedules against their formulas at boundary steps, and against MXNet's schedulers.

Expected values are computed here from the closed forms with Python floats;
the tolerance 1e-15 relative is double round-off.
"""
import math

import pytest

from d2lstab import schedules  # first: it makes mxnet importable on current NumPy
from mxnet import lr_scheduler

approx = lambda x: pytest.approx(x, rel=1e-15, abs=1e-18)  # noqa: E731


def test_piecewise_constant_keras_convention():
    s = schedules.piecewise_constant([10, 20], [1.0, 0.5, 0.1])
    expected = {0: 1.0, 9: 1.0, 10: 1.0, 11: 0.5, 20: 0.5, 21: 0.1, 10**6: 0.1}
    assert {k: s(k) for k in expected} == expected


def test_piecewise_constant_no_boundaries_is_constant():
    s = schedules.piecewise_constant([], [0.3])
    assert s(0) == s(10**9) == 0.3


def test_piecewise_constant_equals_multifactor_scheduler():
    s = schedules.piecewise_constant([5, 12], [0.4, 0.4 * 0.5, 0.4 * 0.25])
    mx = lr_scheduler.MultiFactorScheduler(step=[5, 12], factor=0.5, base_lr=0.4)
    for k in range(1, 30):  # MXNet's schedulers are stateful: ask in increasing order
        assert s(k) == approx(mx(k)), k


@pytest.mark.parametrize("staircase", [False, True])
def test_exponential_decay_formula(staircase):
    s = schedules.exponential_decay(0.2, 0.5, 10, staircase=staircase)
    assert s(0) == 0.2
    assert s(10) == approx(0.1)
    assert s(25) == approx(0.2 * 0.5 ** (2 if staircase else 2.5))
    assert s(9) == approx(0.2 if staircase else 0.2 * 0.5 ** 0.9)
    assert s(10**4) == approx(0.2 * 0.5 ** 1000)  # no floor, no stop: it keeps decaying


def test_exponential_staircase_equals_factor_scheduler_as_trainer_calls_it():
    # gluon.Trainer asks scheduler(k + 1) for update k (k = 0 first)
    s = schedules.exponential_decay(0.1, 0.5, 4, staircase=True)
    mx = lr_scheduler.FactorScheduler(step=4, factor=0.5, base_lr=0.1, stop_factor_lr=0)
    for k in range(30):
        assert s(k) == approx(mx(k + 1)), k


@pytest.mark.parametrize("staircase", [False, True])
def test_inverse_time_decay_formula(staircase):
    s = schedules.inverse_time_decay(0.3, 2.0, 5, staircase=staircase)
    assert s(0) == 0.3
    assert s(5) == approx(0.3 / 3)
    assert s(7) == approx(0.3 / (1 + 2.0 * (1 if staircase else 7 / 5)))
    assert s(10**6) == approx(0.3 / (1 + 2.0 * 2 * 10**5))


def test_linear_decay_formula():
    s = schedules.linear_decay(0.1, 0.001, 100)
    assert s(0) == 0.1
    assert s(50) == approx(0.5 * 0.1 + 0.5 * 0.001)
    assert s(100) == approx(0.001)
    assert s(101) == s(10**6) == approx(0.001)


def test_linear_decay_equals_poly_scheduler_power_one():
    s = schedules.linear_decay(0.1, 0.001, 40)
    mx = lr_scheduler.PolyScheduler(max_update=40, base_lr=0.1, final_lr=0.001, pwr=1)
    for k in range(60):
        assert s(k) == pytest.approx(mx(k), rel=1e-12), k


def test_cosine_decay_without_warmup():
    s = schedules.cosine_decay(0.2, 100, lr_end=0.02)
    assert s(0) == 0.2
    assert s(50) == approx(0.02 + 0.18 / 2)
    assert s(25) == approx(0.02 + 0.18 * (1 + math.cos(math.pi / 4)) / 2)
    assert s(100) == approx(0.02)
    assert s(101) == s(10**5) == 0.02


def test_cosine_decay_with_warmup():
    s = schedules.cosine_decay(0.2, 110, warmup_steps=10)
    assert s(0) == 0.0
    assert s(5) == approx(0.1)
    assert s(9) == approx(0.18)
    assert s(10) == 0.2
    assert s(60) == approx(0.1)
    assert s(110) == approx(0.0)
    assert s(111) == 0.0


def test_cosine_decay_equals_cosine_scheduler():
    s = schedules.cosine_decay(0.2, 50, lr_end=0.01, warmup_steps=5)
    mx = lr_scheduler.CosineScheduler(max_update=50, base_lr=0.2, final_lr=0.01, warmup_steps=5)
    for k in range(70):
        assert s(k) == pytest.approx(mx(k), rel=1e-12, abs=1e-15), k


def test_per_epoch_holds_the_rate_for_an_epoch():
    epoch_rates = schedules.piecewise_constant([1], [1.0, 0.1])  # epochs 0, 1 -> 1.0; then 0.1
    s = schedules.per_epoch(epoch_rates, 23)
    assert [s(k) for k in (0, 22, 23, 45, 46, 1000)] == [1.0, 1.0, 1.0, 1.0, 0.1, 0.1]


def test_schedules_return_floats_and_have_readable_repr():
    s = schedules.linear_decay(1, 0, 10)
    assert type(s(3)) is float
    assert repr(s).startswith("linear_decay(")


# ---------------------------------------------------------------- bad arguments
def test_mismatched_boundaries_and_values():
    with pytest.raises(ValueError, match="values"):
        schedules.piecewise_constant([10, 20], [1.0, 0.5])
    with pytest.raises(ValueError, match="values"):
        schedules.piecewise_constant([10], [1.0, 0.5, 0.1])


def test_boundaries_must_increase_and_be_ints():
    with pytest.raises(ValueError, match="boundaries"):
        schedules.piecewise_constant([20, 10], [1.0, 0.5, 0.1])
    with pytest.raises(ValueError, match="boundaries"):
        schedules.piecewise_constant([10, 10], [1.0, 0.5, 0.1])
    with pytest.raises(TypeError, match="boundaries"):
        schedules.piecewise_constant([1.5], [1.0, 0.5])
    with pytest.raises(ValueError, match="boundaries"):
        schedules.piecewise_constant([-1], [1.0, 0.5])
    with pytest.raises(TypeError, match="boundaries"):
        schedules.piecewise_constant(10, [1.0, 0.5])


def test_negative_values_and_rates():
    with pytest.raises(ValueError, match="values"):
        schedules.piecewise_constant([1], [1.0, -0.5])
    with pytest.raises(ValueError, match="lr0"):
        schedules.exponential_decay(-0.1, 0.5, 10)
    with pytest.raises(ValueError, match="decay_rate"):
        schedules.inverse_time_decay(0.1, -1.0, 10)
    with pytest.raises(ValueError, match="lr_end"):
        schedules.linear_decay(0.1, -0.001, 10)
    with pytest.raises(ValueError, match="lr0"):
        schedules.cosine_decay(-0.1, 10)


def test_bad_step_counts():
    with pytest.raises(ValueError, match="decay_steps"):
        schedules.exponential_decay(0.1, 0.5, 0)
    with pytest.raises(ValueError, match="end_step"):
        schedules.linear_decay(0.1, 0.001, 0)
    with pytest.raises(ValueError, match="total_steps"):
        schedules.cosine_decay(0.1, 0)
    with pytest.raises(ValueError, match="warmup_steps"):
        schedules.cosine_decay(0.1, 10, warmup_steps=10)
    with pytest.raises(ValueError, match="warmup_steps"):
        schedules.cosine_decay(0.1, 10, warmup_steps=-1)
    with pytest.raises(ValueError, match="updates_per_epoch"):
        schedules.per_epoch(lambda e: 0.1, 0)
    with pytest.raises(TypeError, match="epoch_schedule"):
        schedules.per_epoch(0.1, 10)


def test_bad_step_argument():
    s = schedules.cosine_decay(0.1, 10)
    with pytest.raises(ValueError, match="step"):
        s(-1)
    with pytest.raises(TypeError, match="step"):
        s(1.5)
    with pytest.raises(TypeError, match="staircase"):
        schedules.exponential_decay(0.1, 0.5, 10, staircase="yes")
