"""Plotting: ax in, ax out, and the artists each function promises."""

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.contour import ContourSet

from dlopt_lab.landscapes import get_landscape
from dlopt_lab.optim.functional import sgd
from dlopt_lab.plotting import plot_landscape, plot_loss, plot_path, use_book_style
from dlopt_lab.trajectories import run


def _contours(ax):
    return [c for c in ax.collections if isinstance(c, ContourSet)]


@pytest.mark.parametrize("name", ["himmelblau", "saddle", "six_hump_camel", "rosenbrock"])
def test_plot_landscape_draws_contours_and_marks_critical_points(name):
    land = get_landscape(name)
    _, given = plt.subplots()
    ax = plot_landscape(land, given, levels=12, resolution=60)
    assert ax is given
    sets = _contours(ax)
    assert sorted(c.filled for c in sets) == [False, True]
    lines = next(c for c in sets if not c.filled)
    _, _, Z = land.grid(60)
    levels = np.asarray(lines.levels)
    assert len(levels) == 12 and np.all(np.diff(levels) > 0)
    assert levels[-1] == pytest.approx(Z.max(), rel=1e-9)
    if land.log_levels:  # geometric spacing above the floor
        gaps = levels - max(Z.min(), 0.0)
        np.testing.assert_allclose(gaps[1:] / gaps[:-1], gaps[1] / gaps[0], rtol=1e-6)
    else:
        np.testing.assert_allclose(np.diff(levels), (Z.max() - Z.min()) / 11, rtol=1e-9)
    # one marker per minimum (stars, the global one larger) and per saddle (crosses)
    stars = [ln for ln in ax.lines if ln.get_marker() == "*"]
    crosses = [ln for ln in ax.lines if ln.get_marker() == "X"]
    assert len(ax.lines) == len(land.minima) + len(land.saddle_points)
    for markers, points in [(stars, land.minima), (crosses, land.saddle_points)]:
        drawn = np.array([ln.get_xydata()[0] for ln in markers]).reshape(-1, 2)
        np.testing.assert_allclose(drawn, np.array(points).reshape(-1, 2))
    if len(stars) > 1:
        assert stars[0].get_markersize() > max(s.get_markersize() for s in stars[1:])
    assert ax.get_xlim() == pytest.approx(land.bounds[0])
    assert ax.get_ylim() == pytest.approx(land.bounds[1])
    assert ax.get_title() == land.title


def test_plot_landscape_options_and_new_axes():
    ax = plot_landscape("quadratic", filled=False, show_minima=False, levels=5, resolution=30)
    assert isinstance(ax, Axes) and ax.figure.number in plt.get_fignums()
    assert [c.filled for c in _contours(ax)] == [False]
    assert len(ax.lines) == 0


def test_plot_path_draws_line_start_and_end():
    land = get_landscape("quadratic", kappa=10)
    traj = run(land, sgd(lr=0.5), num_steps=20)
    _, given = plt.subplots()
    ax = plot_path(traj, given, label="GD", color="tab:red")
    assert ax is given
    assert len(ax.lines) == 3  # the path, the start, the end
    path, start, end = ax.lines
    np.testing.assert_array_equal(path.get_xydata(), traj.path)
    np.testing.assert_array_equal(start.get_xydata()[0], traj.path[0])
    np.testing.assert_array_equal(end.get_xydata()[0], traj.path[-1])
    assert end.get_marker() == "s" and path.get_label() == "GD"
    assert mpl.colors.same_color(path.get_color(), "tab:red")
    assert mpl.colors.same_color(end.get_color(), "tab:red")


def test_plot_path_marks_divergence_and_thins_long_paths():
    diverged = run(get_landscape("quadratic"), sgd(lr=2.5), x0=(1.0, 1.0), num_steps=200)
    assert diverged.diverged
    ax = plot_path(diverged, markers=False)
    assert isinstance(ax, Axes) and ax.lines[2].get_marker() == "X"
    long = run(get_landscape("quadratic", kappa=100), sgd(lr=0.1), num_steps=1000)
    ax = plot_path(long, max_points=50)
    xy = ax.lines[0].get_xydata()
    assert 2 <= len(xy) <= 51
    np.testing.assert_array_equal(xy[0], long.path[0])
    np.testing.assert_array_equal(xy[-1], long.path[-1])
    # every drawn point is an iterate of the path
    assert all(np.any(np.all(long.path == p, axis=1)) for p in xy)


def test_plot_loss_lines_scale_and_legend():
    curves = {"lr=0.1": np.geomspace(1, 1e-3, 30), "lr=0.5": np.geomspace(1, 1e-6, 20)}
    ref = {"predicted": 0.9 ** np.arange(30)}
    _, given = plt.subplots()
    ax = plot_loss(curves, given, reference=ref, xlabel="epoch")
    assert ax is given
    assert len(ax.lines) == 3 and ax.get_yscale() == "log"
    for line, (lab, ys) in zip(ax.lines, [*curves.items(), *ref.items()]):
        assert line.get_label() == lab
        np.testing.assert_array_equal(line.get_ydata(), ys)
        np.testing.assert_array_equal(line.get_xdata(), np.arange(len(ys)))
    assert ax.lines[2].get_linestyle() == "--"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [*curves, *ref]
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "loss"


def test_plot_loss_single_sequence_linear():
    ax = plot_loss([3.0, 2.0, 1.5], logy=False)
    assert isinstance(ax, Axes) and len(ax.lines) == 1
    assert ax.get_yscale() == "linear" and ax.get_legend() is None


def test_plot_loss_rejects_a_2d_curve():
    with pytest.raises(ValueError, match=r"curves\['bad'\].*one-dimensional.*\(3, 2\)"):
        plot_loss({"bad": np.zeros((3, 2))})
    with pytest.raises(ValueError, match="one-dimensional"):
        plot_loss(np.zeros((4, 4)))


def test_use_book_style_sets_rcparams():
    with mpl.rc_context():
        mpl.rcParams["axes.spines.top"] = True
        mpl.rcParams["legend.frameon"] = True
        assert use_book_style() is None
        assert mpl.rcParams["axes.spines.top"] is False
        assert mpl.rcParams["axes.spines.right"] is False
        assert mpl.rcParams["legend.frameon"] is False
        assert mpl.rcParams["figure.dpi"] == 100


def test_plot_loss_takes_x_values_and_checks_their_length():
    import numpy as np

    from dlopt_lab.plotting import plot_loss

    ax = plot_loss({"a": [3.0, 2.0, 1.0]}, x=[1, 2, 3], logy=False)
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), [1, 2, 3])
    with pytest.raises(ValueError, match="x has shape"):
        plot_loss({"a": [3.0, 2.0, 1.0]}, x=[1, 2])
    with pytest.raises(ValueError, match="reference"):
        plot_loss({"a": [1.0]}, reference={"r": [[1.0]]})


def test_paths_take_consecutive_colours_like_plot_loss():
    from dlopt_lab.trajectories import run

    land = get_landscape("quadratic")
    fig, (ax1, ax2) = plt.subplots(1, 2)
    for lr in (0.1, 0.5, 1.0):
        plot_path(run(land, sgd(lr=lr), num_steps=5), ax=ax1)
        plot_loss({"": [1.0, 0.5]}, ax=ax2)
    path_lines = [ln.get_color() for ln in ax1.lines if len(ln.get_xdata()) > 1]
    loss_lines = [ln.get_color() for ln in ax2.lines]
    assert path_lines == loss_lines  # the start marker must not use up a colour of the cycle
    assert len(set(path_lines)) == 3


def test_two_custom_landscapes_with_the_same_name_are_not_confused():
    import dataclasses

    base = get_landscape("quadratic")
    other = dataclasses.replace(base, value_fn=lambda p: -base.value_fn(p))  # same name, params
    ax1 = plot_landscape(dataclasses.replace(base, value_fn=lambda p: base.value_fn(p)))
    ax2 = plot_landscape(other)
    levels1, levels2 = ax1.collections[0].levels, ax2.collections[0].levels
    assert levels2[0] < 0 < levels1[-1]  # the second plot drew the negated function
