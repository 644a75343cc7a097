"""Landscapes against trusted references: finite differences, torch autograd, closed forms."""

import math

import numpy as np
import pytest
import torch

from dlopt_lab.landscapes import LANDSCAPES, Landscape, get_landscape, quadratic, rosenbrock

# Every registered landscape with its defaults, plus quadratics with other shapes and a
# non-default Rosenbrock, so parameters are exercised too.
CASES = {name: (name, {}) for name in LANDSCAPES}
CASES.update(
    {
        "quadratic-round": ("quadratic", {"kappa": 1.0}),
        "quadratic-rotated": ("quadratic", {"kappa": 10.0, "L": 2.5, "angle": 0.7}),
        "quadratic-steep": ("quadratic", {"kappa": 100, "L": 1, "angle": -1.2}),
        "rosenbrock-mild": ("rosenbrock", {"a": 0.5, "b": 10.0}),
    }
)


@pytest.fixture(params=sorted(CASES), scope="module")
def land(request) -> Landscape:
    name, kwargs = CASES[request.param]
    return get_landscape(name, **kwargs)


def _points(land: Landscape, n: int, seed: int = 0) -> np.ndarray:
    """``n`` uniform random points inside the landscape's bounds, shape (n, 2)."""
    rng = np.random.default_rng(seed)
    (x0, x1), (y0, y1) = land.bounds
    return np.column_stack([rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)])


def _fd(fn, p: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """Fourth-order central differences of ``fn`` at points ``p`` (..., 2) along x and y.

    Returns shape ``fn(p).shape + (2,)``: the last axis is the direction of differentiation.
    """
    cols = []
    for j in range(2):
        e = np.zeros(2)
        e[j] = h
        cols.append((-fn(p + 2 * e) + 8 * fn(p + e) - 8 * fn(p - e) + fn(p - 2 * e)) / (12 * h))
    return np.stack(cols, axis=-1)


def test_gradient_matches_finite_differences(land):
    p = _points(land, 300)
    analytic = land.gradient(p)
    numeric = _fd(land.value_fn, p)
    scale = 1 + np.abs(land(p))[:, None]  # rounding error of the differences grows with |f|
    np.testing.assert_allclose(analytic, numeric, rtol=1e-7, atol=1e-8 * scale.max())
    assert np.all(np.abs(analytic - numeric) <= 1e-7 * np.abs(numeric) + 1e-8 * scale)


def test_gradient_matches_torch_autograd(land):
    p = _points(land, 300, seed=1)
    t = torch.tensor(p, dtype=torch.float64, requires_grad=True)
    value = land(t)
    assert isinstance(value, torch.Tensor) and value.shape == (300,)
    value.sum().backward()
    np.testing.assert_allclose(land.gradient(p), t.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(value.detach().numpy(), land(p), rtol=1e-14, atol=0)


def test_hessian_matches_finite_differences_of_gradient(land):
    for p in _points(land, 40, seed=2):
        H = land.hessian(p)
        assert H.shape == (2, 2)
        numeric = _fd(land.grad_fn, p)  # numeric[i, j] = d grad_i / d x_j
        scale = 1 + np.abs(land.gradient(p)).max()
        np.testing.assert_allclose(H, numeric, rtol=1e-7, atol=1e-8 * scale)
        np.testing.assert_allclose(H, H.T, rtol=0, atol=1e-12 * (1 + np.abs(H).max()))


def test_minima_are_strict_local_minima(land):
    (x0, x1), (y0, y1) = land.bounds
    for m in land.minima:
        assert x0 < m[0] < x1 and y0 < m[1] < y1, f"{m} outside the bounds"
        H = land.hessian(m)
        assert np.all(np.linalg.eigvalsh(H) > 0), f"Hessian at {m} is not positive definite"
        # The listed point is within 1e-7 of the true critical point (one Newton step away).
        newton = np.linalg.solve(H, land.gradient(m))
        assert np.linalg.norm(newton) < 1e-7, f"{m} is {np.linalg.norm(newton):.2g} from a minimum"


def test_first_minimum_is_global(land):
    if not land.minima:
        assert land.name == "saddle" and land.global_minimum is None and land.min_value is None
        return
    values = [float(land(np.array(m))) for m in land.minima]
    assert land.global_minimum == land.minima[0]
    assert land.min_value == pytest.approx(values[0], abs=1e-15)
    assert values[0] <= min(values) + 1e-12
    # ... and no point of a fine grid over the bounds is lower.
    _, _, Z = land.grid(301)
    assert Z.min() >= values[0] - 1e-9 * (1 + abs(values[0]))


def test_saddle_points_have_indefinite_hessian(land):
    if land.name == "saddle":
        assert land.saddle_points, "the saddle landscape must list its saddle point"
    for s in land.saddle_points:
        np.testing.assert_allclose(land.gradient(s), 0.0, atol=1e-12)
        eig = np.linalg.eigvalsh(land.hessian(s))
        assert eig.min() < 0 < eig.max(), f"Hessian at saddle {s} has eigenvalues {eig}"


def test_grid_shapes_and_values(land):
    X, Y, Z = land.grid(7)
    assert X.shape == Y.shape == Z.shape == (7, 7)
    (x0, x1), (y0, y1) = land.bounds
    np.testing.assert_allclose(X[0], np.linspace(x0, x1, 7))
    np.testing.assert_allclose(Y[:, 0], np.linspace(y0, y1, 7))
    expected = [[float(land(np.array([x, y]))) for x, y in zip(xr, yr)] for xr, yr in zip(X, Y)]
    np.testing.assert_allclose(Z, expected, rtol=1e-14, atol=1e-14)
    for bad in (1, 0, 2.5, "10"):
        with pytest.raises(ValueError, match="resolution"):
            land.grid(bad)


def test_vectorized_evaluation_equals_pointwise(land):
    p = _points(land, 24, seed=3).reshape(2, 3, 4, 2)
    values, grads = land(p), land.gradient(p)
    assert values.shape == (2, 3, 4) and grads.shape == (2, 3, 4, 2)
    for idx in np.ndindex(2, 3, 4):
        assert values[idx] == pytest.approx(float(land(p[idx])), rel=1e-14, abs=1e-14)
        np.testing.assert_allclose(grads[idx], land.gradient(p[idx]), rtol=1e-14, atol=1e-14)
    # plain lists are accepted and give the same numbers
    assert float(land(p[0, 0, 0].tolist())) == pytest.approx(float(values[0, 0, 0]), rel=1e-15)


@pytest.mark.parametrize("kappa, L, angle", [(1.0, 1.0, 0.0), (10.0, 1.0, 0.0), (25.0, 4.0, 0.3),
                                             (100.0, 0.5, -2.0)])
def test_quadratic_closed_form(kappa, L, angle):
    q = quadratic(kappa=kappa, L=L, angle=angle)
    mu = L / kappa
    assert q.params["mu"] == pytest.approx(mu, rel=1e-15)
    H = q.hessian((0.3, -0.2))
    np.testing.assert_allclose(np.linalg.eigvalsh(H), [mu, L], rtol=1e-12)
    u = np.array([math.cos(angle), math.sin(angle)])  # the steep eigenvector
    v = np.array([-math.sin(angle), math.cos(angle)])  # the flat one
    np.testing.assert_allclose(H @ u, L * u, atol=1e-12)
    np.testing.assert_allclose(H @ v, mu * v, atol=1e-12)
    # f at a * u + b * v is (L a^2 + mu b^2) / 2
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal(50), rng.standard_normal(50)
    p = a[:, None] * u + b[:, None] * v
    np.testing.assert_allclose(q(p), 0.5 * (L * a**2 + mu * b**2), rtol=1e-12, atol=1e-15)
    assert q(np.zeros(2)) == 0.0


def test_get_landscape_names_and_pass_through():
    for name, factory in LANDSCAPES.items():
        land = get_landscape(name)
        assert isinstance(land, Landscape) and land.name == name
        assert factory().title == land.title
    q = quadratic(kappa=3)
    assert get_landscape(q) is q
    with pytest.raises(ValueError, match="keyword"):
        get_landscape(q, kappa=5)
    assert get_landscape("quadratic", kappa=25).params["mu"] == pytest.approx(0.04)


def test_get_landscape_unknown_name_lists_the_allowed_ones():
    with pytest.raises(ValueError, match="'banana'") as info:
        get_landscape("banana")
    for name in LANDSCAPES:
        assert name in str(info.value)


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"kappa": 0.5}, "kappa"),
        ({"kappa": 0}, "kappa"),
        ({"kappa": "10"}, "kappa"),
        ({"kappa": float("inf")}, "kappa"),
        ({"L": 0.0}, "L"),
        ({"L": -1}, "L"),
        ({"L": float("nan")}, "L"),
        ({"L": True}, "L"),
    ],
)
def test_quadratic_rejects_bad_parameters(kwargs, argument):
    with pytest.raises(ValueError, match=rf"^{argument}\b"):
        get_landscape("quadratic", **kwargs)


def test_rosenbrock_rejects_bad_b():
    with pytest.raises(ValueError, match=r"^b\b"):
        rosenbrock(b=0)


@pytest.mark.parametrize(
    "method, xy",
    [
        ("__call__", np.zeros(3)),
        ("__call__", np.zeros((4, 1))),
        ("__call__", 1.0),
        ("gradient", np.zeros((5, 3))),
        ("hessian", np.zeros((2, 2))),
        ("hessian", np.zeros(3)),
        ("__call__", torch.zeros(3, dtype=torch.float64)),
        ("__call__", ["a", "b"]),
        ("gradient", np.array([1 + 2j, 0])),
        ("__call__", np.array([None, None], dtype=object)),
    ],
)
def test_bad_points_are_rejected_naming_the_argument(method, xy):
    land = get_landscape("rosenbrock")
    with pytest.raises(ValueError, match=r"^xy\b"):
        getattr(land, method)(xy)
