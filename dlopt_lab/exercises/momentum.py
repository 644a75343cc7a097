"""Exercises of the chapter "Momentum and Nesterov"."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch  # imported here, not inside a check's time limit

from dlopt_lab.exercises.core import Exercise, Incorrect, expect_close, expect_number, expect_shape

__all__ = ["nesterov", "optimal_momentum", "stability", "translate"]


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)


# 1. The optimal momentum ---------------------------------------------------------------------


def _optimal_momentum_reference() -> float:
    # The complex band (1 - sqrt(beta))^2 < lr * lam < (1 + sqrt(beta))^2 must hold all of
    # [mu, L]; the smallest such beta makes both ends touch, sqrt(beta) = (sqrt(k)-1)/(sqrt(k)+1).
    kappa = 100
    rate = (math.sqrt(kappa) - 1) / (math.sqrt(kappa) + 1)
    momentum = rate**2
    return momentum


def _optimal_momentum_checker(answer: Any) -> None:
    v = expect_number("momentum", answer)
    kappa, root = 100.0, 10.0
    rate = (root - 1) / (root + 1)
    if _close(v, rate**2):
        return
    if _close(v, rate):
        raise Incorrect("That is heavy ball's convergence rate, the modulus of the eigenvalues. "
                        "The momentum is their product.")
    if _close(v, (kappa - 1) / (kappa + 1)) or _close(v, ((kappa - 1) / (kappa + 1)) ** 2):
        raise Incorrect("That formula uses κ where the optimal momentum uses √κ.")
    if _close(v, 4 / (1 + 1 / root) ** 2):
        raise Incorrect("That is the optimal learning rate η* (for L = 1), not the momentum.")
    if _close(v, 1 - 1 / root):
        raise Incorrect("1 − 1/√κ is the rate of Nesterov's method with η = 1/L, not heavy "
                        "ball's optimal momentum.")
    if not 0 <= v < 1:
        raise Incorrect(f"Heavy ball converges only for a momentum in [0, 1); got {v:g}.")
    raise Incorrect(f"{v:g} is not it. Both eigenvalues of each 2×2 iteration matrix have "
                    "modulus √β when they are complex; which β puts all of [μ, L] in that band?")


optimal_momentum = Exercise(
    "mom-optimal-momentum",
    answer="momentum",
    checker=_optimal_momentum_checker,
    reference=_optimal_momentum_reference,
    hint="Take L = 1 and μ = 1/κ. Require η μ = (1 − √β)² and η L = (1 + √β)², divide one by "
         "the other and solve for √β.",
)


# 2. Translate PyTorch's momentum into the moving-average form --------------------------------


def _translate_reference() -> Callable[[float, float], tuple[float, float]]:
    def to_moving_average(lr, momentum):
        # v_t = (1 - beta) b_t when both start at zero, so alpha v_t = lr b_t needs:
        beta = momentum
        alpha = lr / (1 - momentum)
        return alpha, beta

    return to_moving_average


def _translate_checker(answer: Any) -> None:
    if not callable(answer):
        raise Incorrect(f"`to_moving_average` should be a function, got {type(answer).__name__}")
    for lr, m in [(0.01, 0.9), (0.1, 0.5), (0.003, 0.99), (0.2, 0.0)]:
        got = expect_shape(f"to_moving_average({lr}, {m})", answer(lr, m), (2,))
        expected = np.array([lr / (1 - m), m])
        if np.allclose(got, expected, rtol=1e-9, atol=1e-12):
            continue
        alpha, beta = got
        if _close(alpha, lr * (1 - m)):
            raise Incorrect(f"For lr={lr}, momentum={m}: your α is lr·(1 − β). The average "
                            "v is (1 − β) times PyTorch's buffer, so α must make up for that "
                            "factor, not add another one.")
        if _close(alpha, lr) and _close(beta, m):
            raise Incorrect(f"For lr={lr}, momentum={m}: with α = lr the moving-average form "
                            "takes steps (1 − β) times as long as PyTorch's. Change α.")
        if _close(beta, 1 - m):
            raise Incorrect("β is the weight of the old average, the same number as PyTorch's "
                            "momentum, not 1 − momentum.")
        expect_close(f"to_moving_average({lr}, {m}) = (α, β)", got, expected, rtol=1e-9,
                     atol=1e-12)


translate = Exercise(
    "mom-translate",
    answer="to_moving_average",
    checker=_translate_checker,
    reference=_translate_reference,
    hint="Unroll both buffers from zero: b_t = Σ βᵗ⁻ˢ g_s, and v_t = (1 − β) Σ βᵗ⁻ˢ g_s. "
         "Which α makes α v_t equal to lr b_t?",
)


# 3. One Nesterov step ------------------------------------------------------------------------


def _nesterov_reference() -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    def nesterov_step(param, grad, buf, lr, momentum):
        # PyTorch: b <- beta b + g (b = g at first), d = g + beta b, theta <- theta - lr d
        buf = grad.copy() if buf is None else momentum * buf + grad
        direction = grad + momentum * buf
        return param - lr * direction, buf

    return nesterov_step


def _nesterov_variant(kind: str) -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    """The typical wrong answers, to recognise them and say what is wrong."""

    def step(param, grad, buf, lr, momentum):
        if kind == "dampened-start":
            new = (1 - momentum) * grad if buf is None else momentum * buf + grad
        else:
            new = grad.copy() if buf is None else momentum * buf + grad
        if kind == "heavy-ball":
            d = new
        elif kind == "no-gradient":
            d = momentum * new
        else:  # dampened-start
            d = grad + momentum * new
        return param - lr * d, new

    return step


_NESTEROV_MESSAGES = {
    "heavy-ball": "You step along the new buffer b (or along g + β b with the buffer from "
                  "before its update, which is the same): that is heavy-ball momentum. "
                  "Nesterov (PyTorch's form) updates b ← β b + g, then steps along g + β b.",
    "no-gradient": "Your direction is β b; Nesterov's is g + β b (the gradient counts once "
                   "more, with weight 1).",
    "dampened-start": "Your first buffer is (1 − β) g. PyTorch starts the buffer at the first "
                      "gradient itself, b = g.",
}


def _torch_nesterov_path(H: np.ndarray, theta0: np.ndarray, lr: float, m: float,
                         n: int) -> np.ndarray:
    """The trusted reference: torch.optim.SGD(nesterov=True) on f = θᵀHθ/2, in float64."""
    Ht = torch.tensor(H)
    theta = torch.tensor(theta0, requires_grad=True)
    opt = torch.optim.SGD([theta], lr=lr, momentum=m, nesterov=True)
    path = []
    for _ in range(n):
        opt.zero_grad()
        (0.5 * theta @ Ht @ theta).backward()
        opt.step()
        path.append(theta.detach().numpy().copy())
    return np.array(path)


def _learner_path(step: Callable[..., Any], H: np.ndarray, theta0: np.ndarray, lr: float,
                  m: float, n: int) -> np.ndarray:
    theta, buf, path = theta0.copy(), None, []
    for t in range(n):
        grad = H @ theta
        out = step(theta.copy(), grad.copy(), None if buf is None else buf.copy(), lr, m)
        try:
            new_theta, buf = out
        except (TypeError, ValueError):
            raise Incorrect("nesterov_step should return two arrays, (new_param, new_buf); got "
                            f"{type(out).__name__}") from None
        theta = expect_shape(f"new_param at step {t + 1}", new_theta, theta0.shape)
        buf = expect_shape(f"new_buf at step {t + 1}", buf, theta0.shape)
        path.append(theta)
    return np.array(path)


def _nesterov_checker(answer: Any) -> None:
    if not callable(answer):
        raise Incorrect(f"`nesterov_step` should be a function, got {type(answer).__name__}")
    H = np.array([[2.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 0.1]])
    theta0 = np.array([1.0, -2.0, 3.0])
    for lr, m, n in [(0.3, 0.9, 25), (0.1, 0.5, 10), (0.5, 0.99, 3)]:
        expected = _torch_nesterov_path(H, theta0, lr, m, n)
        got = _learner_path(answer, H, theta0, lr, m, n)
        if np.allclose(got, expected, rtol=1e-9, atol=1e-12):
            continue
        for kind, message in _NESTEROV_MESSAGES.items():
            variant = _learner_path(_nesterov_variant(kind), H, theta0, lr, m, n)
            if np.allclose(got, variant, rtol=1e-9, atol=1e-12):
                raise Incorrect(message)
        first = int(np.argmax(~np.all(np.isclose(got, expected, rtol=1e-9, atol=1e-12), axis=1)))
        expect_close(f"the parameters after step {first + 1} (lr={lr}, momentum={m}; compared "
                     "with torch.optim.SGD(nesterov=True))", got[first], expected[first],
                     rtol=1e-9, atol=1e-12)


nesterov = Exercise(
    "mom-nesterov-step",
    answer="nesterov_step",
    checker=_nesterov_checker,
    reference=_nesterov_reference,
    hint="Three lines: update the buffer (on the first step, when buf is None, it is the "
         "gradient), form the direction from the gradient and the new buffer, step.",
)


# 4. How far momentum widens the stable range --------------------------------------------------


def _stability_reference() -> float:
    # A real eigenvalue of [[1 + beta - lr lam, -beta], [1, 0]] leaves the unit circle at z = -1:
    # 1 + (1 + beta - lr lam) + beta = 0, i.e. lr lam = 2 (1 + beta). The steepest lam = L binds.
    L, beta = 2.0, 0.9
    lr_max = 2 * (1 + beta) / L
    return lr_max


def _stability_checker(answer: Any) -> None:
    v = expect_number("lr_max", answer)
    L, beta = 2.0, 0.9
    if _close(v, 2 * (1 + beta) / L):
        return
    if _close(v, 2 / L):
        raise Incorrect("2/L is the bound of plain gradient descent. With momentum the "
                        "eigenvalues come from a 2×2 matrix; where does the first one leave the "
                        "unit circle?")
    if _close(v, (1 + math.sqrt(beta)) ** 2 / L):
        raise Incorrect("At (1 + √β)²/L the eigenvalues stop being complex, but real ones can "
                        "still lie inside the unit circle. Go further.")
    if _close(v, 2 / (L * (1 - beta))):
        raise Incorrect("η/(1 − β) is the step on a long flat stretch, not the stability edge of "
                        "the steepest direction.")
    raise Incorrect(f"{v:g} is not the bound. Put z = −1 into z² − (1 + β − ηλ) z + β = 0.")


stability = Exercise(
    "mom-stability",
    answer="lr_max",
    checker=_stability_checker,
    reference=_stability_reference,
    hint="For a large step the two eigenvalues are real and negative; the edge is where one of "
         "them equals −1. Substitute z = −1 into the characteristic polynomial.",
)
