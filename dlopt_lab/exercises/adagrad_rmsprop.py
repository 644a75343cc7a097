"""Exercises of the chapter "AdaGrad and RMSprop"."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch  # imported here, not inside a check's time limit

from dlopt_lab.exercises.core import Exercise, Incorrect, expect_close, expect_number, expect_shape

__all__ = ["adagrad_by_hand", "rmsprop_first_step", "rmsprop_update", "sign_step"]


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)


# 1. AdaGrad's first two steps by hand --------------------------------------------------------


def _adagrad_by_hand_reference() -> float:
    # torch.optim.Adagrad(lr=0.1): s0 = 0, eps = 1e-10 outside the root, no lr decay.
    lr, eps = 0.1, 1e-10
    theta, s = -2.0, 0.0
    for g in [-0.01, -0.01]:
        s = s + g**2  # s <- s + g^2
        theta = theta - lr * g / (math.sqrt(s) + eps)  # theta <- theta - lr g / (sqrt(s) + eps)
    theta2 = theta  # -2 + 0.1 + 0.1 / sqrt(2)
    return theta2


def _adagrad_by_hand_checker(answer: Any) -> None:
    v = expect_number("theta2", answer)
    if _close(v, _adagrad_by_hand_reference()):
        return
    if _close(v, -1.8):
        raise Incorrect("Both steps have length 0.1 in your answer. The sum s keeps the first "
                        "squared gradient, so the second step is divided by a larger root.")
    if _close(v, -1.9):
        raise Incorrect("That is θ after one step; the question asks for two.")
    if _close(v, -1.85):
        raise Incorrect("After two steps s = 2g², and the denominator is its square root, "
                        "√(2g²) = √2·|g|, not 2|g|.")
    if _close(v, -1.998):
        raise Incorrect("That is plain gradient descent, θ − η g. AdaGrad divides the gradient "
                        "by √s + ε first.")
    if v < -2.0:
        raise Incorrect("θ moved the wrong way: a step goes against the gradient, and this "
                        "gradient is negative.")
    raise Incorrect(f"{v:g} is not it. Do the two updates in order: s ← s + g², then "
                    "θ ← θ − η g / (√s + ε).")


adagrad_by_hand = Exercise(
    "ada-two-steps",
    answer="theta2",
    checker=_adagrad_by_hand_checker,
    reference=_adagrad_by_hand_reference,
    hint="Start from s = 0. The first update gives s = g² and a step of length η |g| / |g|; "
         "the second adds g² again, so √s grows by a factor √2.",
)


# 2. Dividing the gradient by itself ----------------------------------------------------------


def _sign_step_reference() -> float:
    # g / sqrt(g^2) = g / |g| = sign(g): the size of the gradient is thrown away.
    lr = 0.01
    g = np.array([250.0, -0.0004])
    delta = -lr * g / np.sqrt(g**2)
    delta_y = float(delta[1])  # -0.01 * sign(-0.0004) = +0.01
    return delta_y


def _sign_step_checker(answer: Any) -> None:
    v = expect_number("delta_y", answer)
    if _close(v, 0.01):
        return
    if _close(v, -0.01):
        raise Incorrect("The step goes against the gradient, and this coordinate's gradient is "
                        "negative: the parameter increases.")
    if _close(v, 4e-6) or _close(v, -4e-6):
        raise Incorrect("That is gradient descent's step, −η g, which is tiny here. The faulty "
                        "rule divides g by √(g²) first.")
    if _close(abs(v), 1.0):
        raise Incorrect("g/√(g²) is ±1 indeed; the update also multiplies by the learning rate.")
    raise Incorrect(f"{v:g} is not it. What is √(g²) for a negative g?")


sign_step = Exercise(
    "ada-sign",
    answer="delta_y",
    checker=_sign_step_checker,
    reference=_sign_step_reference,
    hint="For a real number g, √(g²) = |g|. So g/√(g²) depends only on the sign of g.",
)


# 3. RMSprop's first step ---------------------------------------------------------------------


def _rmsprop_first_step_reference() -> float:
    # v starts at 0 and is not bias-corrected: v1 = (1 - alpha) g^2.
    lr, alpha, eps, g = 1e-3, 0.99, 1e-8, 3.0
    v1 = (1 - alpha) * g**2
    first_step = lr * abs(g) / (math.sqrt(v1) + eps)  # about lr / sqrt(1 - alpha) = 10 lr
    return first_step


def _rmsprop_first_step_checker(answer: Any) -> None:
    v = expect_number("first_step", answer)
    if v < 0:
        raise Incorrect("The question asks for the length of the step, |Δθ|, a positive number.")
    if _close(v, _rmsprop_first_step_reference()):
        return
    if _close(v, 1e-3):
        raise Incorrect("A step of exactly η would need v₁ = g². But v starts at 0, so "
                        "v₁ = αv₀ + (1 − α)g² is much smaller than g², and RMSprop (unlike Adam) "
                        "does not correct for that.")
    if _close(v, 3e-3):
        raise Incorrect("That is η|g|, gradient descent's step. RMSprop divides g by √v + ε.")
    if _close(v, 1e-3 * 3 / (0.01 * 9)):
        raise Incorrect("The denominator is the square root of v, √v + ε, not v itself.")
    if _close(v, 1e-3 / math.sqrt(0.99)):
        raise Incorrect("α multiplies the old v; the new squared gradient gets weight 1 − α.")
    raise Incorrect(f"{v:g} is not it. Compute v₁ = αv₀ + (1 − α)g² with v₀ = 0, then "
                    "η|g| / (√v₁ + ε).")


rmsprop_first_step = Exercise(
    "ada-rmsprop-first",
    answer="first_step",
    checker=_rmsprop_first_step_checker,
    reference=_rmsprop_first_step_reference,
    hint="v starts at zero, so after one step v = (1 − α) g². What is √v compared with |g| "
         "when α = 0.99?",
)


# 4. Implement one RMSprop step ---------------------------------------------------------------


def _rmsprop_update_reference() -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    def rmsprop_update(theta, grad, v, lr, alpha, eps):
        v = alpha * v + (1 - alpha) * grad**2  # v <- alpha v + (1 - alpha) g^2
        theta = theta - lr * grad / (np.sqrt(v) + eps)  # eps outside the root
        return theta, v

    return rmsprop_update


def _variants() -> dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]]:
    """Typical mistakes, each with the message it earns."""

    def eps_inside(theta, grad, v, lr, alpha, eps):
        v = alpha * v + (1 - alpha) * grad**2
        return theta - lr * grad / np.sqrt(v + eps), v

    def self_divided(theta, grad, v, lr, alpha, eps):
        v = alpha * v + (1 - alpha) * grad**2
        return theta - lr * grad / (np.sqrt(grad**2) + eps), v

    def old_v(theta, grad, v, lr, alpha, eps):
        new_v = alpha * v + (1 - alpha) * grad**2
        return theta - lr * grad / (np.sqrt(v) + eps), new_v

    def no_one_minus_alpha(theta, grad, v, lr, alpha, eps):
        v = alpha * v + grad**2
        return theta - lr * grad / (np.sqrt(v) + eps), v

    def swapped_alpha(theta, grad, v, lr, alpha, eps):
        v = (1 - alpha) * v + alpha * grad**2
        return theta - lr * grad / (np.sqrt(v) + eps), v

    def no_root(theta, grad, v, lr, alpha, eps):
        v = alpha * v + (1 - alpha) * grad**2
        return theta - lr * grad / (v + eps), v

    def adagrad_sum(theta, grad, v, lr, alpha, eps):
        v = v + grad**2
        return theta - lr * grad / (np.sqrt(v) + eps), v

    return {
        "ε belongs outside the root, √v + ε, as in torch.optim.RMSprop (you wrote √(v + ε)).":
            eps_inside,
        "You divided the gradient by the root of its own square, g/√(g²) = sign(g). Divide by "
        "the root of the running average v instead.": self_divided,
        "Update v first, then divide by the root of the new v; you used the v from before "
        "this step.": old_v,
        "The new squared gradient enters v with weight (1 − α): v ← αv + (1 − α)g².":
            no_one_minus_alpha,
        "α and 1 − α are swapped: α (0.99 by default) weights the old v, 1 − α the new g².":
            swapped_alpha,
        "Divide by the square root of v (plus ε), not by v itself.": no_root,
        "That is AdaGrad's sum s ← s + g². RMSprop keeps a running average, "
        "v ← αv + (1 − α)g².": adagrad_sum,
    }


def _torch_rmsprop(theta0: np.ndarray, grads: list[np.ndarray], lr: float, alpha: float,
                   eps: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """(theta, v) after each step of torch.optim.RMSprop, in float64."""
    p = torch.tensor(theta0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.RMSprop([p], lr=lr, alpha=alpha, eps=eps)
    out = []
    for g in grads:
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        out.append((p.detach().numpy().copy(), opt.state[p]["square_avg"].numpy().copy()))
    return out


def _unpack(out: Any, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    try:
        theta, v = out
    except (TypeError, ValueError):
        raise Incorrect("rmsprop_update should return a pair (theta, v): the new parameters "
                        "and the new running average.") from None
    return (expect_shape("the returned theta", theta, shape),
            expect_shape("the returned v", v, shape))


def _run(fn: Callable[..., Any], theta0: np.ndarray, grads: list[np.ndarray], lr: float,
         alpha: float, eps: float) -> list[tuple[np.ndarray, np.ndarray]]:
    theta, v = theta0.copy(), np.zeros_like(theta0)
    out = []
    for g in grads:
        theta, v = _unpack(fn(theta.copy(), g.copy(), v.copy(), lr, alpha, eps), theta0.shape)
        out.append((theta, v))
    return out


def _same(run_a: list[tuple[np.ndarray, np.ndarray]],
          run_b: list[tuple[np.ndarray, np.ndarray]]) -> bool:
    """Whether two runs have the same (theta, v) after every step, to 1e-9 relative."""
    return all(np.allclose(a, b, rtol=1e-9, atol=1e-12)
               for step_a, step_b in zip(run_a, run_b, strict=True)
               for a, b in zip(step_a, step_b, strict=True))


def _rmsprop_update_checker(answer: Any) -> None:
    if not callable(answer):
        raise Incorrect(f"`rmsprop_update` should be a function, got {type(answer).__name__}")
    rng = np.random.default_rng(3)
    cases = [
        # (theta0, lr, alpha, eps, steps); a large eps makes its placement visible
        (rng.standard_normal(4), 1e-2, 0.99, 1e-8, 6),
        (rng.standard_normal(3), 3e-2, 0.9, 0.1, 5),
        (rng.standard_normal((2, 3)), 1e-3, 0.5, 1e-3, 4),
    ]
    for theta0, lr, alpha, eps, steps in cases:
        # gradients of very different sizes, so dividing by |g| and by sqrt(v) differ
        grads = [rng.standard_normal(theta0.shape) * np.geomspace(1e-2, 10, theta0.size)
                 .reshape(theta0.shape) for _ in range(steps)]
        expected = _torch_rmsprop(theta0, grads, lr, alpha, eps)
        got = _run(answer, theta0, grads, lr, alpha, eps)
        if _same(got, expected):
            continue
        for message, variant in _variants().items():
            if _same(got, _run(variant, theta0, grads, lr, alpha, eps)):
                raise Incorrect(message)
        label = f"lr={lr}, alpha={alpha}, eps={eps}"
        for t, ((theta, v), (theta_ref, v_ref)) in enumerate(zip(got, expected, strict=True),
                                                             start=1):
            expect_close(f"theta after step {t} ({label}, checked against torch.optim.RMSprop)",
                         theta, theta_ref, rtol=1e-9, atol=1e-12)
            expect_close(f"the returned v at step {t} ({label})", v, v_ref, rtol=1e-9,
                         atol=1e-12)


rmsprop_update = Exercise(
    "ada-rmsprop-step",
    answer="rmsprop_update",
    checker=_rmsprop_update_checker,
    reference=_rmsprop_update_reference,
    hint="Two lines: first the running average v ← αv + (1 − α)g², then the step "
         "θ ← θ − η g / (√v + ε). Return both θ and v.",
)
