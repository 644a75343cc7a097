"""Exercises of the chapter "Initialization and normalization"."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch  # imported here, not inside a check's time limit

from dlopt_lab.exercises.core import Exercise, Incorrect, expect_close, expect_number, expect_shape

__all__ = ["bn_eval", "he", "xavier", "zero_grads"]


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6)


# 1. The He standard deviation ---------------------------------------------------------------


def _he_reference() -> float:
    # A ReLU halves the second moment, so the forward condition is fan_in * Var[w] = 2.
    fan_in = 512
    he_sigma = math.sqrt(2 / fan_in)
    return he_sigma


def _he_checker(answer: Any) -> None:
    v = expect_number("he_sigma", answer)
    n = 512
    if _close(v, math.sqrt(2 / n)):
        return
    if _close(v, 2 / n):
        raise Incorrect("That is the variance 2/n_in; the question asks for the standard "
                        "deviation.")
    if _close(v, 1 / math.sqrt(n)):
        raise Incorrect("1/√n_in keeps the variance of a *linear* layer; a ReLU zeroes half of "
                        "its input, so the weights must make up a factor 2 in variance.")
    if _close(v, math.sqrt(6 / n)):
        raise Incorrect("√(6/n_in) is the bound a of kaiming_uniform_, whose draws U(−a, a) have "
                        "standard deviation a/√3. The question asks for the standard deviation.")
    if _close(v, 1 / math.sqrt(3 * n)):
        raise Incorrect("1/√(3 n_in) is the standard deviation of PyTorch's default "
                        "nn.Linear initialization, not He's.")
    if _close(v, math.sqrt(2) / n) or _close(v, 2 / math.sqrt(n)):
        raise Incorrect("Mind where the square root goes: the condition is on the variance, "
                        "n_in · σ² = 2.")
    raise Incorrect(f"{v:g} is not it. Solve n_in · Var[w] · ½ = 1 for the standard deviation.")


he = Exercise(
    "init-he-std",
    answer="he_sigma",
    checker=_he_checker,
    reference=_he_reference,
    hint="For a ReLU layer, Var[z_next] = n_in · Var[w] · E[relu(z)²] and E[relu(z)²] = "
         "Var[z]/2. Ask for Var[z_next] = Var[z].",
)


# 2. The Xavier standard deviation -----------------------------------------------------------


def _xavier_reference() -> float:
    # The compromise between fan_in * Var[w] = 1 (forward) and fan_out * Var[w] = 1 (backward).
    fan_in, fan_out = 300, 100
    xavier_sigma = math.sqrt(2 / (fan_in + fan_out))
    return xavier_sigma


def _xavier_checker(answer: Any) -> None:
    v = expect_number("xavier_sigma", answer)
    n_in, n_out = 300, 100
    if _close(v, math.sqrt(2 / (n_in + n_out))):
        return
    if _close(v, 2 / (n_in + n_out)):
        raise Incorrect("That is the variance; the question asks for the standard deviation.")
    if _close(v, 1 / math.sqrt(n_in)):
        raise Incorrect("1/√n_in satisfies the forward condition only. Xavier balances it with "
                        "the backward one, n_out · Var[w] = 1.")
    if _close(v, 1 / math.sqrt(n_out)):
        raise Incorrect("1/√n_out satisfies the backward condition only. Xavier balances it "
                        "with the forward one, n_in · Var[w] = 1.")
    if _close(v, math.sqrt(6 / (n_in + n_out))):
        raise Incorrect("√(6/(n_in + n_out)) is the bound a of xavier_uniform_; draws from "
                        "U(−a, a) have standard deviation a/√3.")
    if _close(v, math.sqrt(2 / n_in)) or _close(v, math.sqrt(2 / n_out)):
        raise Incorrect("That is a He-style formula with one fan. Xavier averages the two fans: "
                        "Var[w] = 1 / ((n_in + n_out)/2).")
    if _close(v, math.sqrt(1 / (n_in + n_out))):
        raise Incorrect("Close: the compromise uses the *average* of the two fans, "
                        "(n_in + n_out)/2, not their sum.")
    raise Incorrect(f"{v:g} is not it. Xavier sets Var[w] = 2/(n_in + n_out); take the square "
                    "root.")


xavier = Exercise(
    "init-xavier-std",
    answer="xavier_sigma",
    checker=_xavier_checker,
    reference=_xavier_reference,
    hint="The forward pass wants n_in · Var[w] = 1, the backward pass n_out · Var[w] = 1. "
         "Replace the fan by the average of the two.",
)


# 3. Zero initialization: which gradients are not zero ---------------------------------------


def _zero_grads_reference() -> int:
    # With every weight and bias zero, each hidden unit outputs relu(0) = 0, so the output is
    # the output bias (0): p = softmax(0) = 1/5 for every class. Backpropagation:
    #   output bias:     mean(p - y), nonzero for each class (n_k / 7 is never 1/5);
    #   output weights:  (p - y)^T h / N with h = 0               -> zero;
    #   hidden layers:   delta = relu'(z) * (W^T delta_next) with W = 0 -> zero, so their
    #                    weights and biases get zero gradients.
    num_outputs = 5
    num_nonzero = num_outputs  # only the 5 entries of the output bias
    return num_nonzero


def _zero_grads_checker(answer: Any) -> None:
    v = expect_number("num_nonzero", answer)
    if v != int(v) or v < 0:
        raise Incorrect(f"A count of parameters is a non-negative whole number; got {v:g}.")
    v = int(v)
    if v == 5:
        return
    if v == 0:
        raise Incorrect("Not quite nothing: the output layer's bias gets the gradient "
                        "mean(p − y), and with p = 1/5 for every class that is not zero.")
    if v in (150, 155):
        raise Incorrect("The output weights get the gradient (p − y)ᵀ h / N, and every hidden "
                        "activation h is relu(0) = 0.")
    if v in (85, 35, 80):
        raise Incorrect("The hidden biases get the gradient δ = relu'(z) ⊙ Wᵀ δ_next, and W = 0 "
                        "makes it zero, whatever relu'(0) is.")
    total = 20 * 50 + 50 + 50 * 30 + 30 + 30 * 5 + 5
    if v == total:
        raise Incorrect("That is every parameter of the network. Follow the backward pass: "
                        "where does a zero weight or a zero activation stop the gradient?")
    raise Incorrect(f"{v} is not it. Write the gradient of each parameter tensor "
                    "(weights: δ hᵀ, biases: δ) and see which factors are zero.")


zero_grads = Exercise(
    "init-zero-grads",
    answer="num_nonzero",
    checker=_zero_grads_checker,
    reference=_zero_grads_reference,
    hint="Run the forward pass in your head: what is every hidden activation, and what are "
         "the output probabilities? Then the gradient of a weight is δ hᵀ and of a bias δ.",
)


# 4. Batch normalization in eval mode, by hand -----------------------------------------------


def _bn_eval_reference() -> Callable[..., Any]:
    def batch_norm_eval(z, running_mean, running_var, weight, bias, eps):
        # eval mode: the running averages replace the batch's statistics
        return (z - running_mean) / torch.sqrt(running_var + eps) * weight + bias

    return batch_norm_eval


def _torch_bn_eval(z: Any, mean: Any, var: Any, weight: Any, bias: Any, eps: float) -> Any:
    bn = torch.nn.BatchNorm1d(z.shape[1], eps=eps, dtype=torch.float64)
    with torch.no_grad():
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(var)
        bn.weight.copy_(weight)
        bn.bias.copy_(bias)
        return bn.eval()(z)


def _bn_cases() -> list[tuple[Any, ...]]:
    gen = torch.Generator().manual_seed(0)
    cases = []
    for n, k, var_scale, eps in [(8, 3, 1.0, 1e-5), (5, 4, 1e-4, 1e-5), (16, 2, 4.0, 0.1)]:
        z = 2 * torch.randn(n, k, generator=gen, dtype=torch.float64) + 1
        mean = torch.randn(k, generator=gen, dtype=torch.float64)
        var = var_scale * (0.5 + torch.rand(k, generator=gen, dtype=torch.float64))
        weight = 1 + 0.5 * torch.randn(k, generator=gen, dtype=torch.float64)
        bias = torch.randn(k, generator=gen, dtype=torch.float64)
        cases.append((z, mean, var, weight, bias, eps))
    return cases


def _bn_eval_checker(answer: Any) -> None:
    if not callable(answer):
        raise Incorrect(f"`batch_norm_eval` should be a function, got {type(answer).__name__}")
    for z, mean, var, weight, bias, eps in _bn_cases():
        n, k = z.shape
        args = [t.clone() for t in (z, mean, var, weight, bias)]
        got = expect_shape("batch_norm_eval(...)", answer(*args, eps), (n, k))
        expected = _torch_bn_eval(z, mean, var, weight, bias, eps).numpy()
        if np.allclose(got, expected, rtol=1e-9, atol=1e-12):
            continue

        def like(out: Any) -> bool:
            return bool(np.allclose(got, np.asarray(out, dtype=float), rtol=1e-6, atol=1e-9))  # noqa: B023 (used in this iteration)

        batch_var = z.var(dim=0, correction=0)
        if like((z - z.mean(0)) / torch.sqrt(batch_var + eps) * weight + bias) or like(
                (z - z.mean(0)) / torch.sqrt(z.var(dim=0) + eps) * weight + bias):
            raise Incorrect("You normalize with the batch's own mean and variance: that is "
                            "train mode. In eval mode the running averages take their place.")
        if like((z - mean) / torch.sqrt(var) * weight + bias):
            raise Incorrect("Almost: eps goes inside the square root, √(running_var + eps). "
                            "It matters when a variance is small.")
        if like((z - mean) / (var + eps) * weight + bias) or like(
                (z - mean) / var * weight + bias):
            raise Incorrect("Divide by the standard deviation √(running_var + eps), not by the "
                            "variance.")
        if like((z - mean) / (torch.sqrt(var) + eps) * weight + bias):
            raise Incorrect("PyTorch puts eps inside the square root: √(running_var + eps), "
                            "not √running_var + eps.")
        if like((z - mean) / torch.sqrt(var + eps)):
            raise Incorrect("The normalized values still need the learned scale and shift: "
                            "multiply by `weight` and add `bias`.")
        if like(((z - mean) / torch.sqrt(var + eps) + bias) * weight):
            raise Incorrect("Scale first, then shift: weight · x̂ + bias.")
        expect_close("batch_norm_eval(...)", got, expected, rtol=1e-9, atol=1e-12)


bn_eval = Exercise(
    "init-bn-eval",
    answer="batch_norm_eval",
    checker=_bn_eval_checker,
    reference=_bn_eval_reference,
    hint="Start from the train-mode formula of the chapter and replace the batch's mean and "
         "variance by the running ones; broadcasting applies the per-unit vectors to every row.",
)
