"""run() against the closed form of gradient descent on a quadratic, and its edge cases."""

import math
import warnings

import numpy as np
import pytest

from dlopt_lab.landscapes import quadratic, rosenbrock
from dlopt_lab.optim.functional import UpdateRule, check_hparam, sgd
from dlopt_lab.trajectories import Trajectory, run


def _eigvecs(angle: float) -> tuple[np.ndarray, np.ndarray]:
    """The steep (curvature L) and flat (curvature L/kappa) eigenvectors of quadratic(angle=...)."""
    return (np.array([math.cos(angle), math.sin(angle)]),
            np.array([-math.sin(angle), math.cos(angle)]))


@pytest.mark.parametrize("angle", [0.0, 0.6, -2.3])
@pytest.mark.parametrize("lr", [0.3, 1.2, 1.9])
def test_gd_on_quadratic_matches_closed_form(angle, lr):
    kappa, L = 8.0, 1.0
    land = quadratic(kappa=kappa, L=L, angle=angle)
    x0 = np.array([1.3, -0.7])
    traj = run(land, sgd(lr=lr), x0=x0, num_steps=40)
    assert isinstance(traj, Trajectory)
    assert traj.path.shape == (41, 2) and traj.values.shape == (41,)
    assert not traj.diverged and traj.num_steps == 40 and traj.message == "40 steps"
    u, v = _eigvecs(angle)
    t = np.arange(41)
    expected = (np.outer((1 - lr * L) ** t, u) * (x0 @ u)
                + np.outer((1 - lr * L / kappa) ** t, v) * (x0 @ v))
    np.testing.assert_allclose(traj.path, expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(traj.values, land(expected), rtol=1e-11, atol=1e-15)
    np.testing.assert_array_equal(traj.final, traj.path[-1])
    np.testing.assert_allclose(traj.distance_to((0, 0)), np.linalg.norm(expected, axis=1),
                               rtol=1e-12, atol=1e-14)
    assert traj.rule == repr(sgd(lr=lr)) and traj.rule.startswith(f"sgd(lr={lr}")
    assert traj.landscape == land.title


def test_default_start_is_the_landscape_start():
    land = rosenbrock()
    traj = run("rosenbrock", sgd(lr=1e-3), num_steps=3)
    np.testing.assert_array_equal(traj.path[0], land.start)
    g = land.gradient(np.array(land.start))
    np.testing.assert_allclose(traj.path[1], np.array(land.start) - 1e-3 * g, rtol=1e-15)


def test_divergence_stops_cleanly_at_max_norm():
    land = quadratic(kappa=10, L=1.0)
    lr, x0, max_norm = 2.5, np.array([1.0, 1.0]), 1e6  # |1 - lr L| = 1.5 > 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        traj = run(land, sgd(lr=lr), x0=x0, num_steps=1000, max_norm=max_norm)
    # The first step whose closed-form iterate leaves the ball of radius max_norm:
    t = 1
    while math.hypot(1.5**t, (1 - lr / 10) ** t) <= max_norm:
        t += 1
    assert traj.diverged
    assert traj.message == f"diverged at step {t}"
    assert traj.path.shape == (t, 2)  # x_0 .. x_{t-1}
    assert np.all(np.isfinite(traj.path)) and np.all(np.isfinite(traj.values))
    assert np.linalg.norm(traj.final) <= max_norm


def test_divergence_by_overflow_emits_no_warning():
    # Without a norm limit the iterates reach inf / nan; run must stop before recording them.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        traj = run(rosenbrock(), sgd(lr=0.1), x0=(-1.5, 2.0), num_steps=500,
                   max_norm=float("inf"))
    assert traj.diverged and traj.message.startswith("diverged at step ")
    step = int(traj.message.rsplit(" ", 1)[1])
    assert step == len(traj.path) < 500
    assert np.all(np.isfinite(traj.path)) and np.all(np.isfinite(traj.values))


def test_lr_just_below_the_bound_converges():
    land = quadratic(kappa=10, L=2.0)
    traj = run(land, sgd(lr=0.99 * 2 / 2.0), x0=(1.0, 1.0), num_steps=2500)
    assert not traj.diverged
    assert np.linalg.norm(traj.final) < 1e-9
    # the steep coordinate flips sign every step (overshoot) yet shrinks
    assert np.all(np.sign(traj.path[1:20, 0]) == -np.sign(traj.path[:19, 0]))
    assert np.all(np.diff(np.abs(traj.path[:, 0])) < 0)


def test_noise_is_reproducible_per_seed():
    land = quadratic(kappa=5)
    a = run(land, sgd(lr=0.1), num_steps=30, noise_std=0.5, seed=3)
    b = run(land, sgd(lr=0.1), num_steps=30, noise_std=0.5, seed=3)
    c = run(land, sgd(lr=0.1), num_steps=30, noise_std=0.5, seed=4)
    clean = run(land, sgd(lr=0.1), num_steps=30)
    np.testing.assert_array_equal(a.path, b.path)
    assert not np.allclose(a.path[1:], c.path[1:])
    assert not np.allclose(a.path[1:], clean.path[1:])
    # without noise the seed plays no role
    np.testing.assert_array_equal(clean.path, run(land, sgd(lr=0.1), num_steps=30, seed=99).path)


def test_noisy_gradient_is_unbiased_with_the_requested_spread():
    land = rosenbrock()
    x0, lr, sigma, n = np.array([-1.0, 1.5]), 1e-3, 2.0, 4000
    exact = x0 - lr * land.gradient(x0)
    firsts = np.array([run(land, sgd(lr=lr), x0=x0, num_steps=1, noise_std=sigma, seed=s).path[1]
                       for s in range(n)])
    # x_1 = exact - lr * sigma * xi with xi ~ N(0, I): mean within 5 standard errors of `exact`,
    # per-coordinate spread lr * sigma (the sample std is within ~6 % of it with n = 4000).
    se = lr * sigma / math.sqrt(n)
    assert np.all(np.abs(firsts.mean(axis=0) - exact) < 5 * se)
    np.testing.assert_allclose(firsts.std(axis=0), lr * sigma, rtol=0.06)
    assert abs(np.corrcoef(firsts.T)[0, 1]) < 0.1  # independent coordinates


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"num_steps": 0}, "num_steps"),
        ({"num_steps": -3}, "num_steps"),
        ({"num_steps": 2.5}, "num_steps"),
        ({"num_steps": True}, "num_steps"),
        ({"noise_std": -0.1}, "noise_std"),
        ({"noise_std": float("nan")}, "noise_std"),
        ({"noise_std": "0.1"}, "noise_std"),
        ({"x0": (1.0, 2.0, 3.0)}, "x0"),
        ({"x0": [[1.0, 2.0]]}, "x0"),
        ({"x0": (float("nan"), 0.0)}, "x0"),
        ({"x0": (0.0, float("inf"))}, "x0"),
        ({"max_norm": 0}, "max_norm"),
        ({"rule": lambda x, g: x - g}, "rule"),
        ({"rule": "sgd"}, "rule"),
    ],
)
def test_bad_inputs_are_rejected_naming_the_argument(kwargs, argument):
    args = {"landscape": quadratic(), "rule": sgd(lr=0.1), **kwargs}
    with pytest.raises(ValueError, match=rf"\b{argument}\b"):
        run(**args)


def test_unknown_landscape_name_is_rejected():
    with pytest.raises(ValueError, match="Unknown landscape"):
        run("banana", sgd(lr=0.1))


def test_sgd_and_check_hparam_validate_at_the_boundary():
    assert isinstance(sgd(lr=0.0), UpdateRule)
    for bad in (-0.1, float("nan"), "0.1", None, True):
        with pytest.raises(ValueError, match=r"^Invalid lr\b"):
            sgd(lr=bad)
    with pytest.raises(ValueError, match=r"^Invalid momentum: -0\.1 \(must be in \[0, 1\)\)$"):
        check_hparam("momentum", -0.1, low=0, high=1, high_open=True)
    with pytest.raises(ValueError, match=r"must be > 0\)$"):
        check_hparam("eps", 0.0, low=0, low_open=True)
    assert check_hparam("beta", 1, low=0, high=1) == 1.0
    assert isinstance(check_hparam("beta", np.float32(0.5), low=0, high=1), float)


def test_distance_does_not_underflow_to_zero():
    from dlopt_lab.trajectories import Trajectory

    t = Trajectory(path=np.array([[1e-160, 0.0], [3e-170, 4e-170]]), values=np.zeros(2),
                   diverged=False, message="", rule="", landscape="")
    np.testing.assert_allclose(t.distance_to((0, 0)), [1e-160, 5e-170], rtol=1e-12)
