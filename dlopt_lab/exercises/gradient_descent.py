"""Exercises of the chapter "Gradient descent"."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch  # imported here, not inside a check's time limit

from dlopt_lab.exercises.core import Exercise, Incorrect, expect_close, expect_number, expect_shape

__all__ = ["implement", "mse_gradient", "rate", "stability"]


# 1. The stability bound ----------------------------------------------------------------------


def _stability_reference() -> float:
    # Along each eigen-direction with curvature lam, x <- (1 - lr * lam) x, which shrinks
    # iff |1 - lr * lam| < 1, i.e. 0 < lr < 2 / lam. The steepest direction (L = 4) binds first.
    curvatures = (4.0, 0.25)
    lr_max = 2 / max(curvatures)  # the steepest direction binds first
    return lr_max


def _stability_checker(answer: Any) -> None:
    v = expect_number("lr_max", answer)
    if math.isclose(v, 0.5, rel_tol=1e-6):
        return
    if math.isclose(v, 0.25, rel_tol=1e-6):
        raise Incorrect("0.25 = 1/L solves the steep direction in one step, but larger steps "
                        "still converge (they overshoot and come back). How much larger?")
    if math.isclose(v, 8.0, rel_tol=1e-6) or math.isclose(v, 4.0, rel_tol=1e-6):
        raise Incorrect("That bound comes from the flat direction (curvature 0.25); the steep "
                        "one (curvature 4) diverges long before.")
    raise Incorrect(f"{v:g} is not the bound. Along a direction of curvature λ, one step "
                    "multiplies the error by (1 − η λ).")


stability = Exercise(
    "gd-stability",
    answer="lr_max",
    checker=_stability_checker,
    reference=_stability_reference,
    hint="Write one step of gradient descent separately for x and for y. Each coordinate is "
         "multiplied by a constant factor; when does that factor have magnitude below 1?",
)


# 2. Implement gradient descent ---------------------------------------------------------------


def _implement_reference() -> Callable[..., np.ndarray]:
    def gradient_descent(grad, x0, lr, num_steps):
        x = np.array(x0, dtype=float)
        path = [x]
        for _ in range(num_steps):
            x = x - lr * grad(x)
            path.append(x)
        return np.array(path)

    return gradient_descent


def _implement_checker(answer: Any) -> None:
    if not callable(answer):
        raise Incorrect(f"`gradient_descent` should be a function, got {type(answer).__name__}")
    reference = _implement_reference()
    H = np.array([[3.0, 1.0], [1.0, 2.0]])
    cases = [
        (lambda x: H @ x, [1.0, -2.0], 0.1, 10),
        (lambda x: H @ x, [0.5, 0.5], 0.3, 3),
        (lambda x: 2 * x, [4.0], 0.25, 1),
        (lambda x: 4 * x**3, [1.0, -1.0, 0.5], 0.05, 25),
    ]
    for grad, x0, lr, n in cases:
        x0_given = np.array(x0)
        got = answer(grad, x0_given, lr, n)
        expected = reference(grad, x0, lr, n)
        if not np.array_equal(x0_given, np.array(x0)):
            raise Incorrect("Your function changed `x0` in place; copy it first "
                            "(e.g. `x = np.array(x0, dtype=float)`).")
        try:
            arr = np.asarray(got, dtype=float)
        except (TypeError, ValueError):
            raise Incorrect("gradient_descent should return an array of points, got "
                            f"{type(got).__name__}") from None
        if arr.shape == (n, len(x0)):
            raise Incorrect(f"gradient_descent(..., num_steps={n}) returned {n} points; the path "
                            f"should hold x0 too, so {n + 1} rows, shape {expected.shape}.")
        expect_close(f"the path for x0={x0}, lr={lr}, num_steps={n}", arr, expected, rtol=1e-9)


implement = Exercise(
    "gd-implement",
    answer="gradient_descent",
    checker=_implement_checker,
    reference=_implement_reference,
    hint="Keep a list that starts with a copy of x0; in a loop, take one step "
         "x = x - lr * grad(x) and append it. Return np.array(list).",
)


# 3. The convergence rate ---------------------------------------------------------------------


def _rate_reference() -> float:
    # With the best constant step lr = 2 / (L + mu), both extreme directions shrink by
    # (L - mu) / (L + mu) = (kappa - 1) / (kappa + 1) per step.
    kappa = 25
    rate = (kappa - 1) / (kappa + 1)
    return rate


def _rate_checker(answer: Any) -> None:
    v = expect_number("rate", answer)
    if math.isclose(v, 24 / 26, rel_tol=1e-6):
        return
    if math.isclose(v, 1 - 1 / 25, rel_tol=1e-6):
        raise Incorrect("1 − 1/κ is the rate of the step η = 1/L. The question asks for the "
                        "best constant step, η = 2/(L + μ).")
    if not 0 < v < 1:
        raise Incorrect(f"A contraction factor must lie between 0 and 1; got {v:g}.")
    raise Incorrect(f"{v:g} is not it. With η = 2/(L + μ), compute |1 − η μ| and |1 − η L|.")


rate = Exercise(
    "gd-rate",
    answer="rate",
    checker=_rate_checker,
    reference=_rate_reference,
    hint="Take L = κ and μ = 1 (only the ratio matters). The factor of the slowest direction is "
         "|1 − η μ| with η = 2/(L + μ).",
)


# 4. The least-squares gradient ---------------------------------------------------------------


def _mse_reference() -> Callable[..., np.ndarray]:
    def mse_grad(w, X, y):
        # loss(w) = ||X w - y||^2 / (2 n)  =>  gradient = X^T (X w - y) / n
        n = X.shape[0]
        return X.T @ (X @ w - y) / n

    return mse_grad


def _mse_checker(answer: Any) -> None:
    if not callable(answer):
        raise Incorrect(f"`mse_grad` should be a function, got {type(answer).__name__}")

    rng = np.random.default_rng(7)
    for n, d in [(5, 3), (40, 6), (1, 2)]:
        X = rng.standard_normal((n, d))
        y = rng.standard_normal(n)
        w = rng.standard_normal(d)
        wt = torch.tensor(w, requires_grad=True)
        loss = ((torch.tensor(X) @ wt - torch.tensor(y)) ** 2).sum() / (2 * n)
        loss.backward()
        expected = wt.grad.numpy()
        got = expect_shape(f"mse_grad(w, X, y) for w of shape {w.shape}", answer(w, X, y),
                           expected.shape)
        if n > 1 and np.allclose(got, n * expected, rtol=1e-6, atol=1e-9):
            raise Incorrect("Your gradient is n times too large: the loss is an average over "
                            "the n examples, so divide by n.")
        if np.allclose(got, 2 * expected, rtol=1e-6, atol=1e-9):
            raise Incorrect("Your gradient is twice too large: the loss carries a factor 1/2 "
                            "that cancels the 2 from the square.")
        if np.allclose(got, -expected, rtol=1e-6, atol=1e-9):
            raise Incorrect("Your gradient has the wrong sign: it points uphill. Use Xw − y, not "
                            "y − Xw.")
        expect_close(f"mse_grad for n={n}, d={d} (checked against torch autograd)", got,
                     expected, rtol=1e-6, atol=1e-9)


mse_gradient = Exercise(
    "gd-mse-grad",
    answer="mse_grad",
    checker=_mse_checker,
    reference=_mse_reference,
    hint="Write the loss as a sum over examples of (x_iᵀw − y_i)² / (2n) and differentiate one "
         "term; then stack the sum as a matrix product with Xᵀ.",
)
