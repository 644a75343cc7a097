"""Exercises of the chapter "Adam and AdamW"."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch  # imported here, not inside a check's time limit

from dlopt_lab.exercises.core import Exercise, Incorrect, expect_close, expect_number, expect_shape

__all__ = ["adam_by_hand", "adamw_update", "bias_correction", "l2_ratio", "large_eps"]


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)


# 1. One Adam step by hand --------------------------------------------------------------------

# The state after two steps with gradients 1 and 1 (beta1 = 0.9, beta2 = 0.999):
# m = 0.1 (0.9 * 1 + 1) = 0.19, v = 0.001 (0.999 * 1 + 1) = 0.001999.
_BY_HAND = {"theta": 0.5, "t": 2, "m": 0.19, "v": 0.001999, "g": 3.0, "lr": 0.01,
            "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}


def _adam_by_hand_reference() -> float:
    theta, t, m, v, g = 0.5, 2, 0.19, 0.001999, 3.0
    lr, beta1, beta2, eps = 0.01, 0.9, 0.999, 1e-8
    t = t + 1  # this is step 3
    m = beta1 * m + (1 - beta1) * g  # m <- beta1 m + (1 - beta1) g
    v = beta2 * v + (1 - beta2) * g**2  # v <- beta2 v + (1 - beta2) g^2
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    theta3 = theta - lr * m_hat / (math.sqrt(v_hat) + eps)
    return theta3


def _by_hand_variant(*, correct_m: bool = True, correct_v: bool = True, power_shift: int = 0,
                     update_state: bool = True, one_minus: bool = True) -> float:
    """θ after the step, computed with one of the typical slips."""
    p = _BY_HAND
    t = p["t"] + 1
    if update_state:
        w1 = (1 - p["beta1"]) if one_minus else 1.0
        w2 = (1 - p["beta2"]) if one_minus else 1.0
        m = p["beta1"] * p["m"] + w1 * p["g"]
        v = p["beta2"] * p["v"] + w2 * p["g"] ** 2
    else:
        m, v = p["m"], p["v"]
    k = t + power_shift
    m_hat = m / (1 - p["beta1"] ** k) if correct_m else m
    v_hat = v / (1 - p["beta2"] ** k) if correct_v else v
    return p["theta"] - p["lr"] * m_hat / (math.sqrt(v_hat) + p["eps"])


def _adam_by_hand_checker(answer: Any) -> None:
    x = expect_number("theta3", answer)
    right = _adam_by_hand_reference()
    if _close(x, right):
        return
    step = right - _BY_HAND["theta"]
    if _close(x, _BY_HAND["theta"] - step):
        raise Incorrect("θ moved the wrong way: the step goes against m̂, and m̂ is positive here.")
    if _close(x, _by_hand_variant(correct_m=False, correct_v=False)):
        raise Incorrect("You left out both bias corrections. Divide m by 1 − β₁ᵗ and v by "
                        "1 − β₂ᵗ before taking the step.")
    if _close(x, _by_hand_variant(correct_v=False)):
        raise Incorrect("You corrected m but not v: v̂ = v / (1 − β₂ᵗ) as well.")
    if _close(x, _by_hand_variant(correct_m=False)):
        raise Incorrect("You corrected v but not m: m̂ = m / (1 − β₁ᵗ) as well.")
    if _close(x, _by_hand_variant(power_shift=-1)):
        raise Incorrect("This is step t = 3 (two steps were taken before it), so the "
                        "corrections use β₁³ and β₂³.")
    if _close(x, _by_hand_variant(update_state=False)):
        raise Incorrect("Update m and v with the new gradient g = 3 first, then correct them "
                        "and take the step.")
    if _close(x, _by_hand_variant(one_minus=False)):
        raise Incorrect("The new gradient enters m with weight 1 − β₁ and v with weight 1 − β₂.")
    if _close(x, _BY_HAND["theta"] - _BY_HAND["lr"] * _BY_HAND["g"]):
        raise Incorrect("That is gradient descent's step, θ − η g. Adam steps along "
                        "m̂ / (√v̂ + ε).")
    raise Incorrect(f"{x:g} is not it. In order: t ← 3, m ← β₁m + (1 − β₁)g, "
                    "v ← β₂v + (1 − β₂)g², the two corrections, then the step.")


adam_by_hand = Exercise(
    "adam-by-hand",
    answer="theta3",
    checker=_adam_by_hand_checker,
    reference=_adam_by_hand_reference,
    hint="Five lines, in order: the step count becomes 3; update m and v with g = 3; divide m "
         "by 1 − β₁³ and v by 1 − β₂³; step by η m̂ / (√v̂ + ε).",
)


# 2. Implement the bias correction ------------------------------------------------------------


def _bias_correction_reference() -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    def bias_correction(m, v, t, beta1, beta2):
        m_hat = m / (1 - beta1**t)  # E[m_t] = (1 - beta1^t) E[g] for stationary gradients
        v_hat = v / (1 - beta2**t)  # E[v_t] = (1 - beta2^t) E[g^2]
        return m_hat, v_hat

    return bias_correction


def _correction_variants() -> dict[str, Callable[..., tuple[Any, Any]]]:
    """Typical mistakes, each with the message it earns."""
    return {
        "The corrections use the current step count t (the first step is t = 1), not t − 1.":
            lambda m, v, t, b1, b2: (m / (1 - b1 ** (t - 1)) if t > 1 else m * np.inf,
                                     v / (1 - b2 ** (t - 1)) if t > 1 else v * np.inf),
        "The corrections use t itself, not t + 1: after the first step (t = 1) m̂ = m / (1 − β₁).":
            lambda m, v, t, b1, b2: (m / (1 - b1 ** (t + 1)), v / (1 - b2 ** (t + 1))),
        "β₁ and β₂ are swapped: m goes with β₁, v with β₂.":
            lambda m, v, t, b1, b2: (m / (1 - b2**t), v / (1 - b1**t)),
        "Divide by 1 − βᵗ; multiplying makes the estimates even smaller.":
            lambda m, v, t, b1, b2: (m * (1 - b1**t), v * (1 - b2**t)),
        "The correction is 1 − βᵗ (β to the power t), not (1 − β)ᵗ.":
            lambda m, v, t, b1, b2: (m / (1 - b1) ** t, v / (1 - b2) ** t),
        "v̂ is v divided by 1 − β₂ᵗ itself, not by its square root (the root is taken later, "
        "of v̂).":
            lambda m, v, t, b1, b2: (m / (1 - b1**t), v / np.sqrt(1 - b2**t)),
        "Only m is corrected in your answer; v needs its own correction, 1 − β₂ᵗ.":
            lambda m, v, t, b1, b2: (m / (1 - b1**t), v),
        "Only v is corrected in your answer; m needs its own correction, 1 − β₁ᵗ.":
            lambda m, v, t, b1, b2: (m, v / (1 - b2**t)),
    }


def _pair(name: str, out: Any, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    try:
        a, b = out
    except (TypeError, ValueError):
        raise Incorrect(f"{name} should return a pair (m_hat, v_hat).") from None
    return (expect_shape("the returned m_hat", a, shape),
            expect_shape("the returned v_hat", b, shape))


def _bias_correction_checker(answer: Any) -> None:
    if not callable(answer):
        raise Incorrect(f"`bias_correction` should be a function, got {type(answer).__name__}")
    rng = np.random.default_rng(5)
    reference = _bias_correction_reference()
    for beta1, beta2 in [(0.9, 0.999), (0.5, 0.9), (0.8, 0.99)]:
        for t in [1, 2, 7, 60]:
            m = rng.standard_normal(5)
            v = rng.random(5) + 0.1
            got = _pair("bias_correction", answer(m.copy(), v.copy(), t, beta1, beta2), (5,))
            want = reference(m, v, t, beta1, beta2)
            if all(np.allclose(a, b, rtol=1e-9, atol=1e-12)
                   for a, b in zip(got, want, strict=True)):
                continue
            with np.errstate(all="ignore"):
                for message, variant in _correction_variants().items():
                    other = variant(m, v, t, beta1, beta2)
                    if all(np.allclose(a, b, rtol=1e-9, atol=1e-12)
                           for a, b in zip(got, other, strict=True)):
                        raise Incorrect(message)
            label = f"t={t}, beta1={beta1}, beta2={beta2}"
            expect_close(f"m_hat ({label})", got[0], want[0], rtol=1e-9, atol=1e-12)
            expect_close(f"v_hat ({label})", got[1], want[1], rtol=1e-9, atol=1e-12)


bias_correction = Exercise(
    "adam-bias-correction",
    answer="bias_correction",
    checker=_bias_correction_checker,
    reference=_bias_correction_reference,
    hint="m and v start at zero, so after t steps of a constant gradient g, m = (1 − β₁ᵗ) g and "
         "v = (1 − β₂ᵗ) g². Undo those factors.",
)


# 3. Implement one AdamW step -----------------------------------------------------------------


def _adamw_update_reference() -> Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]]:
    def adamw_update(theta, grad, m, v, t, lr, beta1, beta2, eps, weight_decay):
        theta = theta * (1 - lr * weight_decay)  # decoupled decay first, times lr (PyTorch)
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad**2
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)  # eps outside the root
        return theta, m, v

    return adamw_update


def _adamw_variants() -> dict[str, Callable[..., tuple[Any, Any, Any]]]:
    """Typical mistakes, each with the message it earns."""

    def adam_core(theta, grad, m, v, t, lr, b1, b2, eps, *, inside=False, correct=True):
        m = b1 * m + (1 - b1) * grad
        v = b2 * v + (1 - b2) * grad**2
        m_hat = m / (1 - b1**t) if correct else m
        v_hat = v / (1 - b2**t) if correct else v
        denom = np.sqrt(v_hat + eps) if inside else np.sqrt(v_hat) + eps
        return theta - lr * m_hat / denom, m, v

    def l2(theta, grad, m, v, t, lr, b1, b2, eps, wd):
        return adam_core(theta, grad + wd * theta, m, v, t, lr, b1, b2, eps)

    def decay_without_lr(theta, grad, m, v, t, lr, b1, b2, eps, wd):
        return adam_core(theta * (1 - wd), grad, m, v, t, lr, b1, b2, eps)

    def decay_after(theta, grad, m, v, t, lr, b1, b2, eps, wd):
        theta, m, v = adam_core(theta, grad, m, v, t, lr, b1, b2, eps)
        return theta * (1 - lr * wd), m, v

    def no_decay(theta, grad, m, v, t, lr, b1, b2, eps, wd):
        return adam_core(theta, grad, m, v, t, lr, b1, b2, eps)

    def eps_inside(theta, grad, m, v, t, lr, b1, b2, eps, wd):
        return adam_core(theta * (1 - lr * wd), grad, m, v, t, lr, b1, b2, eps, inside=True)

    def uncorrected(theta, grad, m, v, t, lr, b1, b2, eps, wd):
        return adam_core(theta * (1 - lr * wd), grad, m, v, t, lr, b1, b2, eps, correct=False)

    def decay_plus(theta, grad, m, v, t, lr, b1, b2, eps, wd):
        return adam_core(theta * (1 + lr * wd), grad, m, v, t, lr, b1, b2, eps)

    return {
        "That is Adam with L2 regularization: you added λθ to the gradient, so the decay is "
        "divided by √v̂ like the rest. AdamW shrinks θ directly.": l2,
        "PyTorch's AdamW multiplies the decay by the learning rate: θ ← θ (1 − ηλ).":
            decay_without_lr,
        "torch.optim.AdamW decays the old θ before the Adam step, not the new θ after it.":
            decay_after,
        "Weight decay is missing: θ should also shrink by the factor 1 − ηλ.": no_decay,
        "Weight decay shrinks θ: the factor is 1 − ηλ, not 1 + ηλ.": decay_plus,
        "ε belongs outside the root, √v̂ + ε, as in torch.optim.AdamW (you wrote √(v̂ + ε)).":
            eps_inside,
        "Both bias corrections are missing: m̂ = m / (1 − β₁ᵗ), v̂ = v / (1 − β₂ᵗ).": uncorrected,
    }


def _torch_adamw(theta0: np.ndarray, grads: list[np.ndarray], lr: float, beta1: float,
                 beta2: float, eps: float, wd: float) -> list[tuple[np.ndarray, ...]]:
    """(theta, m, v) after each step of torch.optim.AdamW, in float64."""
    p = torch.tensor(theta0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.AdamW([p], lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=wd)
    out = []
    for g in grads:
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        state = opt.state[p]
        out.append((p.detach().numpy().copy(), state["exp_avg"].numpy().copy(),
                    state["exp_avg_sq"].numpy().copy()))
    return out


def _triple(out: Any, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    try:
        theta, m, v = out
    except (TypeError, ValueError):
        raise Incorrect("adamw_update should return a triple (theta, m, v): the new parameters "
                        "and the new moment estimates (not bias-corrected).") from None
    return (expect_shape("the returned theta", theta, shape),
            expect_shape("the returned m", m, shape), expect_shape("the returned v", v, shape))


def _run_adamw(fn: Callable[..., Any], theta0: np.ndarray, grads: list[np.ndarray], lr: float,
               beta1: float, beta2: float, eps: float, wd: float) -> list[tuple[np.ndarray, ...]]:
    theta, m, v = theta0.copy(), np.zeros_like(theta0), np.zeros_like(theta0)
    out = []
    for t, g in enumerate(grads, start=1):
        theta, m, v = _triple(fn(theta.copy(), g.copy(), m.copy(), v.copy(), t, lr, beta1, beta2,
                                 eps, wd), theta0.shape)
        out.append((theta, m, v))
    return out


def _same_runs(a: list[tuple[np.ndarray, ...]], b: list[tuple[np.ndarray, ...]]) -> bool:
    return all(np.allclose(x, y, rtol=1e-9, atol=1e-12)
               for step_a, step_b in zip(a, b, strict=True)
               for x, y in zip(step_a, step_b, strict=True))


def _adamw_update_checker(answer: Any) -> None:
    if not callable(answer):
        raise Incorrect(f"`adamw_update` should be a function, got {type(answer).__name__}")
    rng = np.random.default_rng(11)
    cases = [
        # (theta0, lr, beta1, beta2, eps, weight_decay, steps); large lr * wd and eps make the
        # order of the decay and the place of eps visible
        (rng.standard_normal(4), 1e-2, 0.9, 0.999, 1e-8, 1e-2, 6),
        (rng.standard_normal(3), 0.2, 0.8, 0.99, 0.05, 0.5, 5),
        (rng.standard_normal((2, 3)), 0.1, 0.5, 0.9, 1e-3, 2.0, 4),
    ]
    for theta0, lr, beta1, beta2, eps, wd, steps in cases:
        scale = np.geomspace(1e-2, 10, theta0.size).reshape(theta0.shape)
        grads = [rng.standard_normal(theta0.shape) * scale for _ in range(steps)]
        expected = _torch_adamw(theta0, grads, lr, beta1, beta2, eps, wd)
        got = _run_adamw(answer, theta0, grads, lr, beta1, beta2, eps, wd)
        if _same_runs(got, expected):
            continue
        for message, variant in _adamw_variants().items():
            if _same_runs(got, _run_adamw(variant, theta0, grads, lr, beta1, beta2, eps, wd)):
                raise Incorrect(message)
        label = f"lr={lr}, betas=({beta1}, {beta2}), eps={eps}, weight_decay={wd}"
        for t, (mine, ref) in enumerate(zip(got, expected, strict=True), start=1):
            for name, x, y in zip(["theta", "m", "v"], mine, ref, strict=True):
                expect_close(f"{name} after step {t} ({label}, checked against "
                             "torch.optim.AdamW)", x, y, rtol=1e-9, atol=1e-12)


adamw_update = Exercise(
    "adam-adamw-step",
    answer="adamw_update",
    checker=_adamw_update_checker,
    reference=_adamw_update_reference,
    hint="First shrink θ by the factor 1 − ηλ; then an ordinary Adam step with the plain "
         "gradient: update m and v, correct them with step count t, and divide by √v̂ + ε.",
)


# 4. Which coordinate does L2 regularize less? ------------------------------------------------


def _l2_ratio_reference() -> float:
    # Adam + L2: the term lambda theta is divided by sqrt(v_hat) + eps like the rest of the
    # gradient, so the relative shrinkage per step is lr lambda / sqrt(v_hat).
    rms_a, rms_b = 5.0, 0.05  # sqrt(v_hat) of a and of b
    ratio = (1 / rms_b) / (1 / rms_a)  # b is shrunk 100 times faster than a
    return ratio


def _l2_ratio_checker(answer: Any) -> None:
    x = expect_number("ratio", answer)
    if _close(x, 100.0):
        return
    if _close(x, 0.01):
        raise Incorrect("That is a's shrinkage relative to b's. The coordinate with the larger "
                        "gradients has the larger √v̂ and is divided by it.")
    if _close(x, 1.0):
        raise Incorrect("That would be AdamW, whose decay ηλθ is not divided by anything. With "
                        "L2, λθ joins the gradient and is divided by √v̂ + ε.")
    if _close(x, 1e4) or _close(x, 1e-4):
        raise Incorrect("The step divides by the square root of v̂, not by v̂.")
    raise Incorrect(f"{x:g} is not it. The L2 term's contribution to a step is "
                    "η λθ / (√v̂ + ε); compare it, relative to θ, for the two parameters.")


l2_ratio = Exercise(
    "adam-l2-ratio",
    answer="ratio",
    checker=_l2_ratio_checker,
    reference=_l2_ratio_reference,
    hint="Adam divides the whole gradient, λθ included, by √v̂ + ε. Write the shrinkage that "
         "λθ causes in one step, relative to θ, for each parameter.",
)


# 5. Adam with a huge epsilon -----------------------------------------------------------------


def _large_eps_reference() -> float:
    # eps >> sqrt(v_hat): the step is lr m_hat / eps, moving-average momentum with alpha =
    # lr / eps. PyTorch's buffer b = g + beta b is m / (1 - beta), so its lr is alpha (1 - beta).
    lr, eps, beta1 = 10.0, 1000.0, 0.9
    alpha = lr / eps
    sgd_lr = alpha * (1 - beta1)
    return sgd_lr


def _large_eps_checker(answer: Any) -> None:
    x = expect_number("sgd_lr", answer)
    if _close(x, _large_eps_reference()):
        return
    if _close(x, 0.01):
        raise Incorrect("0.01 = η/ε is the learning rate of the moving-average form, "
                        "v ← βv + (1 − β)g. torch.optim.SGD's buffer is b ← βb + g, which is "
                        "1/(1 − β) times larger.")
    if _close(x, 0.1):
        raise Incorrect("PyTorch's buffer is 1/(1 − β) times the moving average, so its "
                        "learning rate is smaller than η/ε, not larger.")
    if _close(x, 10.0) or _close(x, 1.0):
        raise Incorrect("With ε far above √v̂, the denominator √v̂ + ε is about ε, and the step "
                        "is η m̂ / ε: the learning rate is divided by ε.")
    raise Incorrect(f"{x:g} is not it. First find α with Adam's step ≈ α m̂; then translate "
                    "the moving-average form into PyTorch's b ← βb + g.")


large_eps = Exercise(
    "adam-large-eps",
    answer="sgd_lr",
    checker=_large_eps_checker,
    reference=_large_eps_reference,
    hint="When ε ≫ √v̂, √v̂ + ε ≈ ε. And the momentum chapter: the moving average "
         "v = (1 − β) b, where b is PyTorch's buffer.",
)
