"""Tests for d2lstab.repeats: runs over seeds, their spread, paired comparisons."""
import math

import numpy as onp
import pytest

import d2lstab as d2l
from d2lstab import repeats


def test_repeat_seeds_each_run_and_passes_the_seed():
    seen = []

    def run(s):
        seen.append(s)
        return float(onp.random.rand())  # drawn after d2l.seed(s)

    r = d2l.repeat(run, seeds=4)
    assert seen == [0, 1, 2, 3] and r.seeds == [0, 1, 2, 3]
    expected = [onp.random.RandomState(s).rand() for s in range(4)]
    onp.testing.assert_array_equal(r.values, expected)
    assert d2l.repeat(run, seeds=[7, 3]).seeds == [7, 3]


def test_spread_statistics_match_numpy():
    v = [0.9, 0.95, 0.85, 0.92, 0.88]
    s = repeats.Spread(v)
    assert s.mean == pytest.approx(onp.mean(v), abs=1e-15)
    assert s.std == pytest.approx(onp.std(v, ddof=1), abs=1e-15)  # the sample sd
    assert s.std != pytest.approx(onp.std(v), abs=1e-6)
    assert (s.min, s.max) == (0.85, 0.95)
    assert s.sem == pytest.approx(onp.std(v, ddof=1) / math.sqrt(5))
    assert f"{s:.2f}" == "0.90 ± 0.04"
    assert str(s) == "0.900 ± 0.038 (min 0.850, max 0.950, 5 seeds)"


def test_curves_give_per_step_statistics_and_last():
    r = d2l.repeat(lambda s: [s, 2 * s, 3 * s], seeds=3)
    onp.testing.assert_array_equal(r.mean, [1, 2, 3])
    onp.testing.assert_array_equal(r.max, [2, 4, 6])
    assert r.last.mean == 3 and list(r.last.values) == [0, 3, 6]
    with pytest.raises(TypeError, match="last"):
        format(r, ".3f")


def test_dicts_and_histories_become_dicts_of_spreads():
    r = d2l.repeat(lambda s: {"acc": 0.5 + s / 10, "loss": [1.0, 0.5 - s / 10]}, seeds=3)
    assert set(r) == {"acc", "loss"}
    assert r["acc"].mean == pytest.approx(0.6) and r["loss"].values.shape == (3, 2)

    def history(s):
        h = d2l.train.History()
        h.train_loss, h.train_acc = [1.0, 0.5], [0.5, 0.8]
        h.test_loss, h.test_acc = [1.1, 0.6], [0.4, 0.7 + s / 100]
        return h

    r = d2l.repeat(history, seeds=2)
    assert set(r) == {"train_loss", "train_acc", "test_loss", "test_acc"}
    assert list(r["test_acc"].last.values) == [0.7, 0.71]


def test_repeat_rejects_bad_arguments():
    with pytest.raises(TypeError, match="run"):
        d2l.repeat(3)
    with pytest.raises(ValueError, match="seeds"):
        d2l.repeat(lambda s: s, seeds=1)
    with pytest.raises(ValueError, match="seeds"):
        d2l.repeat(lambda s: s, seeds=[1, 1])
    with pytest.raises(TypeError, match="seeds"):
        d2l.repeat(lambda s: s, seeds="5")
    with pytest.raises(ValueError, match="seeds"):
        d2l.repeat(lambda s: s, seeds=[-1, 2])
    with pytest.raises(ValueError, match="one shape"):
        d2l.repeat(lambda s: [0.0] * (s + 1), seeds=2)
    with pytest.raises(ValueError, match="same kind"):
        d2l.repeat(lambda s: {"a": 1} if s == 0 else {"b": 1}, seeds=2)
    with pytest.raises(TypeError, match="values"):
        repeats.Spread(["x", "y"])
    with pytest.raises(ValueError, match="at least 2"):
        repeats.Spread([1.0])


def test_compare_states_an_order_only_when_the_interval_excludes_zero():
    a = repeats.Spread([0.90, 0.91, 0.92, 0.93, 0.94])
    clear = repeats.Spread([0.88, 0.90, 0.90, 0.92, 0.92])  # a - b = .02, .01, .02, .01, .02
    c = d2l.compare(a, clear, names=("He", "Xavier"))
    assert c.order == ">" and c.wins == 5
    diffs = onp.array([0.02, 0.01, 0.02, 0.01, 0.02])
    half = 2.7764451051977987 * diffs.std(ddof=1) / math.sqrt(5)  # t(0.975, 4)
    assert c.low == pytest.approx(diffs.mean() - half) and c.high == pytest.approx(diffs.mean() + half)
    assert c.verdict().startswith("He higher than Xavier: He - Xavier = +0.016")
    assert "He higher on 5 of 5 seeds" in c.verdict()
    assert d2l.compare(clear, a).order == "<"
    # a higher mean and 4 wins of 5, but one large loss: no clear order
    mixed = repeats.Spread([0.89, 0.90, 0.91, 0.92, 0.99])
    m = d2l.compare(a, mixed)
    assert m.wins == 4 and m.order == "~"
    assert m.verdict().startswith("no clear order between A and B")
    # a higher mean, 4 wins of 5, and still no clear order: the interval decides
    loose = repeats.Spread([0.85, 0.86, 0.87, 0.88, 1.04])  # a - b = .05 x 4, -.1
    m = d2l.compare(a, loose)
    assert m.diff.mean > 0 and m.low < 0 < m.high and m.order == "~"


def test_compare_pairs_by_seed_and_rejects_bad_arguments():
    a = repeats.Spread([1.0, 2.0], seeds=[0, 1])
    with pytest.raises(ValueError, match="same seeds"):
        d2l.compare(a, repeats.Spread([1.0, 2.0], seeds=[1, 2]))
    with pytest.raises(TypeError, match="b must be a Spread"):
        d2l.compare(a, [1.0, 2.0])
    with pytest.raises(ValueError, match="curves"):
        d2l.compare(a, repeats.Spread([[1.0, 2.0], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="level"):
        d2l.compare(a, a, level=1.0)
    with pytest.raises(TypeError, match="names"):
        d2l.compare(a, a, names="AB")


def test_table_fits_the_width_and_reports_last_entries():
    t = d2l.table({"He": repeats.Spread([0.9, 0.92]),
                   "curve": repeats.Spread([[0.1, 0.8], [0.2, 0.9]])}, label="init")
    lines = t.splitlines()
    assert lines[0].split() == ["init", "mean", "sd", "min", "max"]
    assert lines[1].split() == ["He", "0.910", "0.014", "0.900", "0.920"]
    assert lines[2].split() == ["curve", "0.850", "0.071", "0.800", "0.900"]
    assert "2 seeds each" in lines[3]
    with pytest.raises(ValueError, match="wider than width"):
        d2l.table({"x" * 80: repeats.Spread([1.0, 2.0])})
    with pytest.raises(TypeError, match="spreads"):
        d2l.table({})


def test_plot_spread_draws_a_mean_and_a_band_per_label():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = d2l.repeat(lambda s: [s, s + 1.0, s + 3.0], seeds=3)
    fig, ax = plt.subplots()
    d2l.plot_spread([1, 2, 3], {"a": r}, axes=ax)
    (line,) = ax.get_lines()
    onp.testing.assert_array_equal(line.get_ydata(), [1, 2, 4])
    band = ax.collections[0].get_paths()[0].vertices
    assert band[:, 1].min() == 0 and band[:, 1].max() == 5
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a"]
    with pytest.raises(ValueError, match="length"):
        d2l.plot_spread([1, 2], {"a": r}, axes=ax)
    with pytest.raises(ValueError, match="band"):
        d2l.plot_spread([1, 2, 3], {"a": r}, axes=ax, band="none")
    plt.close(fig)
