"""Exercises of the chapter "Second-order methods"."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from dlopt_lab.exercises.core import Exercise, Incorrect, expect_close, expect_number, expect_shape
from dlopt_lab.landscapes import beale, himmelblau, quadratic, rosenbrock, six_hump_camel

__all__ = ["descent_check", "implement", "one_step", "quadratic_convergence"]


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)


def _close_rel(a: float, b: float) -> bool:
    """Relative closeness only: the errors of exercise 3 are far below any absolute tolerance."""
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=0.0)


# 1. One Newton step on a quadratic, by hand ---------------------------------------------------

_A = np.array([[3.0, 1.0], [1.0, 2.0]])
_B = np.array([1.0, 4.0])
_THETA0 = np.array([5.0, -7.0])


def _one_step_reference() -> float:
    # f = 1/2 θᵀAθ − bᵀθ: gradient Aθ − b, Hessian A. The quadratic model is f itself, so one
    # Newton step lands on the minimizer A⁻¹b, wherever it starts.
    A = np.array([[3.0, 1.0], [1.0, 2.0]])
    b = np.array([1.0, 4.0])
    theta0 = np.array([5.0, -7.0])
    g = A @ theta0 - b
    theta1 = theta0 - np.linalg.solve(A, g)  # = A⁻¹b = (-0.4, 2.2)
    x1 = float(theta1[0])
    return x1


def _one_step_checker(answer: Any) -> None:
    v = expect_number("x1", answer)
    if _close(v, _one_step_reference()):
        return
    g = _A @ _THETA0 - _B
    theta_star = np.linalg.solve(_A, _B)
    if _close(v, _THETA0[0]):
        raise Incorrect("That is where x starts; the question asks where it is after the step.")
    if _close(v, theta_star[1]):
        raise Incorrect("That is the second coordinate, y, after the step; the question asks "
                        "for the first, x.")
    if _close(v, (_THETA0 - g)[0]):
        raise Incorrect("That is a gradient-descent step with η = 1, θ − ∇f. Newton's step "
                        "multiplies the gradient by the inverse of the Hessian.")
    if _close(v, (_THETA0 - _A @ g)[0]):
        raise Incorrect("You multiplied the gradient by the Hessian; Newton's step solves "
                        "H d = −∇f, i.e. multiplies by the inverse of the Hessian.")
    if _close(v, (_THETA0 + np.linalg.solve(_A, g))[0]):
        raise Incorrect("The sign is wrong: Newton's step is θ − H⁻¹∇f, against the gradient.")
    if _close(v, 0.0):
        raise Incorrect("0 minimizes ½θᵀAθ, but this f also has the linear term −bᵀθ: "
                        "its gradient is Aθ − b.")
    raise Incorrect(f"{v:g} is not it. Write the gradient Aθ − b and the Hessian A, then "
                    "take θ₁ = θ₀ − A⁻¹(Aθ₀ − b) and simplify.")


one_step = Exercise(
    "newton-one-step",
    answer="x1",
    checker=_one_step_checker,
    reference=_one_step_reference,
    hint="Expand θ₀ − A⁻¹(Aθ₀ − b): the terms in θ₀ cancel. What is left does not depend on "
         "where you start.",
)


# 2. Implement a Newton step --------------------------------------------------------------------


def _implement_reference() -> Callable[..., np.ndarray]:
    def newton_step(grad, hess, x):
        g, H = grad(x), hess(x)
        return x - np.linalg.solve(H, g)  # solve H d = g; never form H⁻¹

    return newton_step


def _variants() -> dict[str, Callable[..., np.ndarray]]:
    """Typical mistakes, each with the message it earns."""

    def ascent(grad, hess, x):
        return x + np.linalg.solve(hess(x), grad(x))

    def gradient_step(grad, hess, x):
        return x - grad(x)

    def times_hessian(grad, hess, x):
        return x - hess(x) @ grad(x)

    def direction_only(grad, hess, x):
        return -np.linalg.solve(hess(x), grad(x))

    return {
        "The step goes the wrong way: Newton's step is x − H⁻¹∇f(x).": ascent,
        "That is a gradient-descent step with η = 1. Newton's step also uses the Hessian.":
            gradient_step,
        "You multiplied the gradient by the Hessian; Newton's step solves H d = ∇f(x) for d.":
            times_hessian,
        "You returned the step (the Newton direction); return the new point x plus that step.":
            direction_only,
    }


# Points where each landscape's Hessian is invertible, some where it is indefinite.
_CASES = [
    (rosenbrock, [(-1.5, 2.0), (0.0, 1.0), (1.2, 1.2)]),
    (himmelblau, [(-0.5, -0.5), (1.5, -1.5), (3.3, 1.8)]),
    (beale, [(1.0, 1.5), (2.5, 0.3)]),
    (six_hump_camel, [(-1.0, -1.0), (0.5, 0.2)]),
    (lambda: quadratic(kappa=50, angle=0.4), [(1.0, -2.0)]),
]


def _implement_checker(answer: Any) -> None:
    if not callable(answer):
        raise Incorrect(f"`newton_step` should be a function, got {type(answer).__name__}")
    reference = _implement_reference()
    for make, points in _CASES:
        land = make()
        for point in points:
            x = np.array(point, dtype=float)
            got = answer(land.gradient, land.hessian, x)
            if not np.array_equal(x, np.array(point, dtype=float)):
                raise Incorrect("Your function changed `x` in place; return a new array "
                                "(x - ..., not x -= ...).")
            arr = expect_shape(f"newton_step at {point} on {land.title}", got, (2,))
            expected = reference(land.gradient, land.hessian, np.array(point, dtype=float))
            if np.allclose(arr, expected, rtol=1e-9, atol=1e-12):
                continue
            for message, variant in _variants().items():
                if np.allclose(arr, variant(land.gradient, land.hessian, x), rtol=1e-9,
                               atol=1e-12):
                    raise Incorrect(message)
            expect_close(f"newton_step at {point} on {land.title}", arr, expected, rtol=1e-9,
                         atol=1e-12)


implement = Exercise(
    "newton-implement",
    answer="newton_step",
    checker=_implement_checker,
    reference=_implement_reference,
    hint="Evaluate g = grad(x) and H = hess(x), solve the linear system H d = g with "
         "np.linalg.solve, and step against d.",
)


# 3. Quadratic convergence: predict the error ---------------------------------------------------


def _quadratic_convergence_reference() -> float:
    # Near a minimum e_{t+1} = C e_t^2; C is fixed by the two errors we saw.
    e1, e2 = 4e-3, 3.2e-5
    C = e2 / e1**2  # = 2
    e3 = C * e2**2
    e4 = C * e3**2
    return e4


def _quadratic_convergence_checker(answer: Any) -> None:
    v = expect_number("e4", answer)
    if v <= 0:
        raise Incorrect("An error ‖θ_t − θ*‖ is a positive number.")
    e1, e2 = 4e-3, 3.2e-5
    C = e2 / e1**2
    e3 = C * e2**2
    if _close_rel(v, _quadratic_convergence_reference()):
        return
    if _close_rel(v, e3):
        raise Incorrect(f"{v:.4g} is e₃ (and also what a constant ratio e₄/e₂ = (e₂/e₁)² would "
                        "give). Take one more quadratic step.")
    if _close_rel(v, e3**2) or _close_rel(v, e2**4):
        raise Incorrect("You dropped the constant C. Find it from e₂ = C e₁² first.")
    if _close_rel(v, e2 * (e2 / e1)):
        raise Incorrect("That assumes a constant ratio e_{t+1}/e_t, i.e. linear convergence. "
                        "Near a minimum Newton's error is squared at every step.")
    raise Incorrect(f"{v:g} is not it. Find C from e₂ = C e₁², then apply e_{{t+1}} = C e_t² "
                    "twice.")


quadratic_convergence = Exercise(
    "newton-digits",
    answer="e4",
    checker=_quadratic_convergence_checker,
    reference=_quadratic_convergence_reference,
    hint="C = e₂ / e₁². Then e₃ = C e₂² and e₄ = C e₃². Count the correct digits: they roughly "
         "double.",
)


# 4. Is the Newton direction a descent direction? ----------------------------------------------

_G = np.array([1.0, 2.0])
_H = np.array([[4.0, 1.0], [1.0, -2.0]])


def _descent_check_reference() -> float:
    # d = −H⁻¹g; the loss changes at rate gᵀd along d. H is indefinite, so the sign is not
    # guaranteed.
    g = np.array([1.0, 2.0])
    H = np.array([[4.0, 1.0], [1.0, -2.0]])
    d = -np.linalg.solve(H, g)
    slope = float(g @ d)  # = 10/9 > 0: uphill
    return slope


def _descent_check_checker(answer: Any) -> None:
    v = expect_number("slope", answer)
    if _close(v, _descent_check_reference()):
        return
    if _close(v, float(_G @ np.linalg.solve(_H, _G))):
        raise Incorrect("The sign is off: the Newton direction is d = −H⁻¹g, and the slope "
                        "along it is gᵀd.")
    if _close(v, -float(_G @ _G)):
        raise Incorrect("That is the slope along −g, the gradient-descent direction, which is "
                        "always −‖g‖². The question is about d = −H⁻¹g.")
    if _close(v, -float(_G @ _H @ _G)) or _close(v, float(_G @ _H @ _G)):
        raise Incorrect("You used H where its inverse belongs: d solves H d = −g.")
    lam, Q = np.linalg.eigh(_H)
    if _close(v, -float((Q.T @ _G) ** 2 @ (1 / np.abs(lam)))):
        raise Incorrect("That is the slope of the modified direction −|H|⁻¹g, which is always "
                        "downhill. The question is about the plain Newton direction.")
    raise Incorrect(f"{v:g} is not it. Solve H d = −g for d, then take the dot product gᵀd.")


descent_check = Exercise(
    "newton-descent",
    answer="slope",
    checker=_descent_check_checker,
    reference=_descent_check_reference,
    hint="Compute d with np.linalg.solve(H, -g), then g @ d. A negative number means the loss "
         "goes down along d; what sign do you get, and why can it happen with this H?",
)
