"""Exercises of the chapter "Regularization"."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch  # imported here, not inside a check's time limit

from dlopt_lab.exercises.core import Exercise, Incorrect, expect_close, expect_number, expect_shape

__all__ = ["dropout_scale", "early_stopping", "l2_gradient", "prox_l1"]


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


# 1. The inverted-dropout scale ---------------------------------------------------------------


def _dropout_scale_reference() -> float:
    # A unit survives with probability 1 - p; dividing the survivors by 1 - p keeps the
    # expected activation: E[m x / (1 - p)] = (1 - p) x / (1 - p) = x.
    p = 0.2
    scale = 1 / (1 - p)
    return scale


def _dropout_scale_checker(answer: Any) -> None:
    v = expect_number("scale", answer)
    if _close(v, 1.25):
        return
    if _close(v, 0.8):
        raise Incorrect("0.8 is the probability that a unit survives. Multiplying the survivors "
                        "by it would shrink the expected activation further, to 0.64 x; the "
                        "factor has to undo the loss, not repeat it.")
    if _close(v, 5.0):
        raise Incorrect("5 = 1/p divides by the probability to be dropped. The survivors stand "
                        "in for the dropped units: divide by the probability to survive.")
    if _close(v, 1.2):
        raise Incorrect("1 + p is close for small p, but not exact: with it the expected "
                        "activation is (1 − p)(1 + p) x = 0.96 x, not x.")
    if _close(v, 1.0):
        raise Incorrect("Without any scaling the expected activation during training is "
                        "(1 − p) x = 0.8 x, but at evaluation time it is x: the next layer "
                        "would see larger inputs at test time than it was trained on.")
    if _close(v, 0.2):
        raise Incorrect("0.2 is p itself. Which factor makes E[out] equal to x when a unit "
                        "survives with probability 1 − p?")
    raise Incorrect(f"{v:g} is not the factor. Write E[out] for a unit that survives with "
                    "probability 1 − p and is then multiplied by your factor.")


dropout_scale = Exercise(
    "reg-dropout-scale",
    answer="scale",
    checker=_dropout_scale_checker,
    reference=_dropout_scale_reference,
    hint="A surviving unit is multiplied by the factor, a dropped one is 0. Write the expected "
         "output, with survival probability 1 − p, and ask that it equal the input x.",
)


# 2. The gradient of a loss with an L2 penalty ------------------------------------------------


def _l2_gradient_reference() -> Callable[..., np.ndarray]:
    def penalized_grad(w, X, y, lam):
        # f(w) = ||X w - y||^2 / (2 n) + (lam / 2) ||w||^2
        n = X.shape[0]
        return X.T @ (X @ w - y) / n + lam * w

    return penalized_grad


def _penalized_autograd(w: np.ndarray, X: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    wt = torch.tensor(w, requires_grad=True)
    n = X.shape[0]
    loss = ((torch.tensor(X) @ wt - torch.tensor(y)) ** 2).sum() / (2 * n) + lam / 2 * (wt**2).sum()
    loss.backward()
    return wt.grad.numpy()


def _l2_gradient_checker(answer: Any) -> None:
    if not callable(answer):
        raise Incorrect(f"`penalized_grad` should be a function, got {type(answer).__name__}")
    rng = np.random.default_rng(11)
    for n, d, lam in [(6, 3, 0.5), (30, 5, 0.1), (1, 2, 2.0)]:
        X = rng.standard_normal((n, d))
        y = rng.standard_normal(n)
        w = rng.standard_normal(d)
        expected = _penalized_autograd(w, X, y, lam)
        data_grad = _penalized_autograd(w, X, y, 0.0)
        got = expect_shape(f"penalized_grad(w, X, y, lam) for w of shape {w.shape}",
                           answer(w.copy(), X, y, lam), expected.shape)

        def same(a: np.ndarray) -> bool:
            return np.allclose(got, a, rtol=1e-7, atol=1e-10)  # noqa: B023 (used in this iteration)

        if same(data_grad):
            raise Incorrect("That is the gradient of the data term alone: the penalty "
                            "(λ/2)‖w‖² adds its own gradient.")
        if same(data_grad + 2 * lam * w):
            raise Incorrect("The penalty's gradient is twice too large: the ½ in (λ/2)‖w‖² "
                            "cancels the 2 from the square.")
        if same(data_grad + lam * np.sign(w)):
            raise Incorrect("λ sign(w) is the (sub)gradient of the L1 penalty λ‖w‖₁. "
                            "Differentiate (λ/2) Σ wⱼ² instead.")
        if n > 1 and (same(data_grad + lam * w / n) or same(data_grad + n * lam * w)):
            raise Incorrect("The penalty is added once to the mean loss, not per example: its "
                            "gradient does not depend on n.")
        if same(data_grad - lam * w):
            raise Incorrect("The penalty's gradient has the wrong sign: the penalty grows with "
                            "‖w‖, so its gradient points away from 0.")
        expect_close(f"penalized_grad for n={n}, d={d}, lam={lam} (checked against torch "
                     "autograd)", got, expected, rtol=1e-7, atol=1e-10)


l2_gradient = Exercise(
    "reg-l2-grad",
    answer="penalized_grad",
    checker=_l2_gradient_checker,
    reference=_l2_gradient_reference,
    hint="The gradient of a sum is the sum of the gradients. The data term's is the least-squares "
         "gradient of the chapter on gradient descent; differentiate (λ/2) Σ wⱼ² one coordinate "
         "at a time.",
)


# 3. One proximal (soft-thresholding) step for L1 ---------------------------------------------


def _prox_l1_reference() -> Callable[..., np.ndarray]:
    def prox_l1_step(w, grad, lr, lam):
        z = w - lr * grad  # a gradient step on the data loss alone
        tau = lr * lam  # the threshold: learning rate times penalty strength
        return np.sign(z) * np.maximum(np.abs(z) - tau, 0.0)  # soft-thresholding

    return prox_l1_step


_PROX_CASES = [
    # w, grad, lr, lam: entries that stay, shrink, land exactly on 0, and cross 0 under a
    # subgradient step
    (np.array([0.5, -0.05, 0.02, -1.0]), np.array([0.1, 0.2, -0.2, -0.5]), 0.1, 0.5),
    (np.array([2.0, -0.3, 0.01, 0.0, -0.02]), np.array([1.0, -1.0, 0.05, 0.3, -0.1]), 0.05, 2.0),
    (np.array([0.7, -0.4, 0.15]), np.array([-0.2, 0.3, 1.0]), 0.2, 0.3),
]


def _prox_l1_checker(answer: Any) -> None:
    if not callable(answer):
        raise Incorrect(f"`prox_l1_step` should be a function, got {type(answer).__name__}")
    reference = _prox_l1_reference()

    def soft(z: np.ndarray, tau: float) -> np.ndarray:
        return np.sign(z) * np.maximum(np.abs(z) - tau, 0.0)

    for w, grad, lr, lam in _PROX_CASES:
        w_given, grad_given = w.copy(), grad.copy()
        got_raw = answer(w_given, grad_given, lr, lam)
        if not (np.array_equal(w_given, w) and np.array_equal(grad_given, grad)):
            raise Incorrect("Your function changed its arguments in place; compute a new array "
                            "instead (e.g. `z = w - lr * grad`).")
        expected = reference(w, grad, lr, lam)
        got = expect_shape(f"prox_l1_step(w, grad, lr={lr}, lam={lam}) for w of shape {w.shape}",
                           got_raw, expected.shape)

        def same(a: np.ndarray) -> bool:
            return np.allclose(got, a, rtol=1e-9, atol=1e-12)  # noqa: B023 (used in this iteration)

        if same(w - lr * (grad + lam * np.sign(w))):
            raise Incorrect("That is a subgradient step on the loss plus λ‖w‖₁: weights near 0 "
                            "jump across it instead of stopping there, so none becomes exactly "
                            "0. Take the gradient step on the data loss alone, then soft-threshold.")
        if same(soft(w - lr * grad, lam)):
            raise Incorrect("The threshold is too large: the penalty acts for one step of size "
                            "lr, so the threshold is lr · λ, not λ.")
        if same(soft(w, lr * lam) - lr * grad):
            raise Incorrect("The order is reversed: first the gradient step on the data loss, "
                            "then soft-thresholding of the result.")
        if same(soft(w, lr * lam)):
            raise Incorrect("The gradient of the data loss is missing: soft-threshold "
                            "w − lr · grad, not w.")
        if same(np.where(np.abs(w - lr * grad) > lr * lam, w - lr * grad, 0.0)):
            raise Incorrect("That is hard thresholding: the surviving entries must also shrink "
                            "toward 0 by lr · λ.")
        expect_close(f"prox_l1_step(w={w.tolist()}, grad={grad.tolist()}, lr={lr}, lam={lam})",
                     got, expected, rtol=1e-9, atol=1e-12)


prox_l1 = Exercise(
    "reg-prox-l1",
    answer="prox_l1_step",
    checker=_prox_l1_checker,
    reference=_prox_l1_reference,
    hint="Two moves: z = w − lr · grad, then each entry of z moves toward 0 by lr · λ, and stops "
         "at 0 if it would cross it. np.sign, np.abs and np.maximum are all you need.",
)


# 4. Early stopping with patience -------------------------------------------------------------

#: Validation losses after epochs 1, 2, ..., 12 (the exercise's curve).
VAL_LOSSES = [0.90, 0.62, 0.48, 0.45, 0.41, 0.43, 0.40, 0.42, 0.44, 0.41, 0.46, 0.47]
PATIENCE = 3


def _early_stopping_reference() -> int:
    # lab.fit's rule: after each epoch, a loss below the best so far resets the count; any
    # other epoch adds one, and training stops when the count reaches `patience`.
    val_losses = [0.90, 0.62, 0.48, 0.45, 0.41, 0.43, 0.40, 0.42, 0.44, 0.41, 0.46, 0.47]
    patience = 3
    best, waited = math.inf, 0
    for epoch, loss in enumerate(val_losses, start=1):  # noqa: B007 (read after the loop)
        if loss < best:
            best, waited = loss, 0
        else:
            waited += 1
            if waited >= patience:
                break
    last_epoch = epoch
    return last_epoch


def _early_stopping_checker(answer: Any) -> None:
    v = expect_number("last_epoch", answer)
    if v == 10:
        return
    if v == 7:
        raise Incorrect("Epoch 7 has the lowest validation loss, but training cannot know that "
                        "yet at epoch 7: it stops only after `patience` epochs without a new "
                        "lowest loss.")
    if v == 6:
        raise Incorrect("6 is `History.best_epoch`, the 0-based index of the best epoch (epoch 7). "
                        "The question asks for the last epoch that runs, counted from 1.")
    if v == 12:
        raise Incorrect("Training does stop before the end. Compare each loss with the lowest "
                        "loss so far, not with the previous epoch's.")
    if v == 11:
        raise Incorrect("One epoch too many: training stops as soon as the count of epochs "
                        "without improvement reaches the patience, 3.")
    if v == 9:
        raise Incorrect("One epoch too early: after epoch 9 only two epochs in a row have not "
                        "improved on the best loss.")
    if v == 8:
        raise Incorrect("Epoch 7 improved on the best loss (0.40 < 0.41), which resets the count.")
    if v != int(v) or not 1 <= v <= len(VAL_LOSSES):
        raise Incorrect(f"`last_epoch` should be a whole epoch number from 1 to {len(VAL_LOSSES)}.")
    raise Incorrect(f"Epoch {int(v)} is not it. Go through the epochs one by one, keeping the "
                    "lowest loss so far and the count of epochs since it.")


early_stopping = Exercise(
    "reg-early-stop",
    answer="last_epoch",
    checker=_early_stopping_checker,
    reference=_early_stopping_reference,
    hint="Keep two numbers while you read the curve: the lowest loss so far, and how many epochs "
         "have passed without going below it. A loss equal to the best is not below it.",
)
