"""Exercises of the chapter "Pruning and distillation"."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch  # imported here, not inside a check's time limit
import torch.nn.functional as F

from dlopt_lab.exercises.core import Exercise, Incorrect, expect_close

__all__ = ["distillation_loss", "remaining_weights", "soft_gradient", "softened_softmax"]


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise Incorrect(f"`{name}` should be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise Incorrect(f"`{name}` should be a finite number, got {value}")
    return float(value)


def _array(name: str, value: Any) -> np.ndarray:
    """The learner's result as a float64 array, whether it is a tensor, an array or a number."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise Incorrect(f"{name} should be a tensor or an array of numbers, "
                        f"got {type(value).__name__}") from None


def _same(got: np.ndarray, expected: np.ndarray) -> bool:
    return got.shape == expected.shape and np.allclose(got, expected, rtol=1e-7, atol=1e-12)


# 1. How many weights remain ------------------------------------------------------------------


def _remaining_weights_reference() -> int:
    # fc1 = Linear(100, 300) (weight 300 x 100), fc2 = Linear(300, 10) (weight 10 x 300).
    # Structured pruning of 80% of fc1's rows keeps 60 hidden neurons; removing the others
    # leaves fc1 with 60 rows of 100 and fc2 with 60 columns (of 10 rows).
    kept = 300 - round(0.8 * 300)
    remaining = kept * 100 + 10 * kept
    return remaining


def _remaining_weights_checker(answer: Any) -> None:
    v = _number("remaining", answer)
    if v == 6600:
        return
    if v == 6000:
        raise Incorrect("6000 is what is left of fc1. Removing a hidden neuron also removes the "
                        "column of fc2 that reads it: count fc2's weights too.")
    if v == 9000:
        raise Incorrect("9000 counts fc2 whole. A removed neuron's column of fc2 multiplies a "
                        "neuron that no longer exists: it goes too.")
    if v in (26400, 24000, 27000):
        raise Incorrect(f"{v:g} counts the weights that were removed, not those that remain.")
    if v == 33000:
        raise Incorrect("33000 is the count before pruning: 300·100 + 10·300.")
    raise Incorrect(f"{v:g} is not the count. How many of fc1's 300 rows remain, how long is "
                    "each, and which part of fc2 survives?")


remaining_weights = Exercise(
    "prune-remaining",
    answer="remaining",
    checker=_remaining_weights_checker,
    reference=_remaining_weights_reference,
    hint="A row of fc1 is one hidden neuron. Once it is gone, which weights of fc2 have nothing "
         "left to multiply?",
)


# 2. The softened softmax ---------------------------------------------------------------------


def _softened_softmax_reference() -> Callable[..., torch.Tensor]:
    def softened_softmax(z, T):
        # p_i = exp(z_i / T) / sum_j exp(z_j / T), along the last dimension
        z = z / T
        z = z - z.max(dim=-1, keepdim=True).values  # no overflow; the result is unchanged
        e = torch.exp(z)
        return e / e.sum(dim=-1, keepdim=True)

    return softened_softmax


def _softened_softmax_checker(answer: Any) -> None:
    if not callable(answer):
        raise Incorrect(f"`softened_softmax` should be a function, got {type(answer).__name__}")
    gen = torch.Generator().manual_seed(3)
    cases = [(torch.tensor([4.0, 1.0, 0.0, -2.0], dtype=torch.float64), 2.0),
             (3 * torch.randn(5, 10, generator=gen, dtype=torch.float64), 4.0),
             (torch.tensor([[1000.0, 0.0, -1.0]], dtype=torch.float64), 1.0),
             (torch.randn(2, 7, generator=gen, dtype=torch.float64), 0.5)]
    for z, T in cases:
        expected = torch.softmax(z / T, dim=-1).numpy()
        got = _array(f"softened_softmax(z, T={T:g})", answer(z.clone(), T))
        if _same(got, expected):
            continue
        if _same(got, torch.softmax(z, dim=-1).numpy()) and T != 1:
            raise Incorrect(f"For T = {T:g} that is the ordinary softmax: divide the logits by T "
                            "first.")
        if _same(got, torch.softmax(z * T, dim=-1).numpy()):
            raise Incorrect("Multiplying the logits by T sharpens the distribution; a high "
                            "temperature should flatten it. Divide by T.")
        p1 = torch.softmax(z, dim=-1).numpy()
        if T != 1 and _same(got, p1 ** (1 / T)):
            raise Incorrect("softmax(z) ** (1/T) has the right shape of curve but does not sum "
                            "to 1: normalize after raising to the power, i.e. softmax(z / T).")
        if np.isfinite(got).all() and got.shape == expected.shape and got.size and \
                not np.allclose(got.sum(axis=-1), 1.0, atol=1e-9):
            raise Incorrect(f"Your probabilities for T = {T:g} do not sum to 1 along the last "
                            "dimension.")
        if not np.all(np.isfinite(got)):
            raise Incorrect(f"softened_softmax gives NaN or infinity for logits as large as "
                            f"{float(z.abs().max()):g}: subtract the largest logit first (it does "
                            "not change the result).")
        expect_close(f"softened_softmax(z, T={T:g}) (checked against torch.softmax(z / T))",
                     got, expected, rtol=1e-9, atol=1e-12)


softened_softmax = Exercise(
    "prune-softmax-T",
    answer="softened_softmax",
    checker=_softened_softmax_checker,
    reference=_softened_softmax_reference,
    hint="The softened softmax is the ordinary softmax of the logits divided by T, taken along the "
         "last dimension. Very large logits overflow exp: what can you subtract from every logit "
         "without changing the result?",
)


# 3. The distillation loss --------------------------------------------------------------------


def _distillation_loss_reference() -> Callable[..., torch.Tensor]:
    def distillation_loss(student_logits, teacher_logits, labels, T, alpha):
        log_q = torch.log_softmax(student_logits / T, dim=1)  # student, softened
        p = torch.softmax(teacher_logits / T, dim=1)  # teacher, softened
        kl = (p * (torch.log(p) - log_q)).sum(dim=1).mean()  # KL(p || q), mean over the batch
        ce = F.cross_entropy(student_logits, labels)  # hard labels, at T = 1
        return alpha * T**2 * kl + (1 - alpha) * ce

    return distillation_loss


def _kd_torch(s: torch.Tensor, t: torch.Tensor, y: torch.Tensor, T: float, alpha: float,
              *, t2: bool = True, reverse: bool = False, soft_ce: bool = False,
              reduction: str = "batchmean") -> torch.Tensor:
    log_q = F.log_softmax(s / T, dim=1)
    log_p = F.log_softmax(t / T, dim=1)
    inp, target = (log_p, log_q) if reverse else (log_q, log_p)
    if reduction == "mean":  # the mean over every element (F.kl_div's "mean" warns)
        kl = F.kl_div(inp, target, reduction="sum", log_target=True) / inp.numel()
    else:
        kl = F.kl_div(inp, target, reduction=reduction, log_target=True)
    if soft_ce:
        kl = -(log_p.exp() * log_q).sum(dim=1).mean()
    return alpha * (T**2 if t2 else 1.0) * kl + (1 - alpha) * F.cross_entropy(s, y)


def _distillation_loss_checker(answer: Any) -> None:
    if not callable(answer):
        raise Incorrect(f"`distillation_loss` should be a function, got {type(answer).__name__}")
    gen = torch.Generator().manual_seed(5)
    for n, k, T, alpha in [(8, 10, 4.0, 0.9), (5, 3, 2.0, 0.5), (16, 10, 1.0, 0.7)]:
        s = 2 * torch.randn(n, k, generator=gen, dtype=torch.float64)
        t = 3 * torch.randn(n, k, generator=gen, dtype=torch.float64)
        y = torch.randint(0, k, (n,), generator=gen)
        got = _array(f"distillation_loss for T={T:g}, alpha={alpha:g}",
                     answer(s.clone(), t.clone(), y.clone(), T, alpha))
        if got.size != 1:
            raise Incorrect(f"distillation_loss should return one number (the mean over the "
                            f"batch), got an array of shape {got.shape}")
        got = got.reshape(())
        expected = _kd_torch(s, t, y, T, alpha).numpy()
        if _same(got, expected):
            continue
        if T != 1:
            if _same(got, _kd_torch(s, t, y, T, alpha, t2=False).numpy()):
                raise Incorrect("The soft term is missing its factor T². Without it the soft "
                                "term's gradients shrink like 1/T² as T grows.")
            if _same(got, _kd_torch(s, t, y, T, alpha, reduction="sum").numpy()) or \
                    _same(got, _kd_torch(s, t, y, T, alpha, reduction="mean").numpy()):
                raise Incorrect("The KL term should be averaged over the examples of the batch "
                                "(F.kl_div's reduction='batchmean'), like the cross-entropy.")
        if _same(got, _kd_torch(s, t, y, T, alpha, reverse=True).numpy()):
            raise Incorrect("The KL divergence is the wrong way round: KL(p_teacher ‖ q_student) "
                            "= Σ p (log p − log q), weighted by the teacher's probabilities.")
        if _same(got, _kd_torch(s, t, y, T, alpha, soft_ce=True).numpy()):
            raise Incorrect("That uses the cross-entropy −Σ p log q of the soft targets. It has "
                            "the same gradient as the KL divergence but a different value: "
                            "subtract the teacher's entropy, or write the KL divergence.")
        if _same(got, _kd_torch(s, t, y, T, 1 - alpha).numpy()):
            raise Incorrect("alpha weighs the soft (teacher) term and 1 − alpha the hard-label "
                            "cross-entropy; you have them the other way round.")
        expect_close(f"distillation_loss for T={T:g}, alpha={alpha:g} (checked against "
                     "F.kl_div and F.cross_entropy)", got, expected, rtol=1e-9, atol=1e-12)


distillation_loss = Exercise(
    "prune-kd-loss",
    answer="distillation_loss",
    checker=_distillation_loss_checker,
    reference=_distillation_loss_reference,
    hint="Soften both sets of logits with the same T; KL(p ‖ q) = Σ p (log p − log q), summed over "
         "classes and averaged over the batch; the cross-entropy with the labels uses the "
         "student's logits at T = 1.",
)


# 4. The gradient of the soft term, and the T² factor -----------------------------------------


def _soft_gradient_reference() -> Callable[..., torch.Tensor]:
    def soft_gradient(z, v, T):
        # d/dz of T² KL(softmax(v/T) ‖ softmax(z/T)) for one example: T² (q - p) / T
        q = torch.softmax(z / T, dim=-1)
        p = torch.softmax(v / T, dim=-1)
        return T * (q - p)

    return soft_gradient


def _soft_gradient_checker(answer: Any) -> None:
    if not callable(answer):
        raise Incorrect(f"`soft_gradient` should be a function, got {type(answer).__name__}")
    gen = torch.Generator().manual_seed(7)
    for T in (1.0, 3.0, 8.0):
        z = 2 * torch.randn(10, generator=gen, dtype=torch.float64)
        v = 2 * torch.randn(10, generator=gen, dtype=torch.float64)
        zz = z.clone().requires_grad_(True)
        loss = T**2 * F.kl_div(F.log_softmax(zz / T, dim=-1), F.log_softmax(v / T, dim=-1),
                               reduction="sum", log_target=True)
        loss.backward()
        expected = zz.grad.numpy()
        got = _array(f"soft_gradient(z, v, T={T:g})", answer(z.clone(), v.clone(), T))
        if _same(got, expected):
            continue
        if T != 1:
            if _same(got, expected / T**2):
                raise Incorrect(f"For T = {T:g} that is the gradient of KL without the factor T²."
                                )
            if _same(got, expected / T) or _same(got, expected * T):
                raise Incorrect("Count the factors of T: T² from the loss, and 1/T from the "
                                "chain rule through z / T.")
        if _same(got, -expected):
            raise Incorrect("The gradient has the wrong sign: raising z_i raises q_i, and the "
                            "loss grows when q_i exceeds p_i.")
        expect_close(f"soft_gradient(z, v, T={T:g}) (checked against torch autograd)", got,
                     expected, rtol=1e-9, atol=1e-12)


soft_gradient = Exercise(
    "prune-kd-gradient",
    answer="soft_gradient",
    checker=_soft_gradient_checker,
    reference=_soft_gradient_reference,
    hint="The gradient of the cross-entropy −Σ p log softmax(u) with respect to u is "
         "softmax(u) − p; here u = z / T, so the chain rule adds a factor 1/T.",
)
