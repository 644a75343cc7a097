"""Exercises of the chapter "Quantization"."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch  # imported here, not inside a check's time limit

from dlopt_lab.exercises.core import Exercise, Incorrect, expect_close

__all__ = ["clip", "ste", "scale", "zero_point"]


def _number(name: str, value: Any) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise Incorrect(f"`{name}` should be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise Incorrect(f"`{name}` should be a finite number, got {value}")
    return float(value)


# 1. The scale --------------------------------------------------------------------------------


def _scale_reference() -> float:
    # 8-bit affine codes 0..255: 256 levels, 255 steps across [min, max] = [-1.5, 4.5]
    # (the range already contains 0, so it is not extended).
    min_val, max_val, num_bits = -1.5, 4.5, 8
    scale = (max_val - min_val) / (2**num_bits - 1)
    return scale


def _scale_checker(answer: Any) -> None:
    v = _number("scale", answer)
    if math.isclose(v, 6 / 255, rel_tol=1e-6):
        return
    if math.isclose(v, 6 / 256, rel_tol=1e-6):
        raise Incorrect("That divides the range into 256 pieces. 256 levels are separated by "
                        "fewer steps than that.")
    if math.isclose(v, 9 / 255, rel_tol=1e-6):
        raise Incorrect("That is the symmetric scale 2·max|x|/255. Affine quantization spends "
                        "its codes on [min, max] only.")
    if math.isclose(v, 4.5 / 255, rel_tol=1e-6):
        raise Incorrect("The range starts at −1.5, not at 0: the codes must cover [−1.5, 4.5].")
    raise Incorrect(f"{v:g} is not the scale. The scale is the distance between neighbouring "
                    "levels when the lowest and the highest code sit at the ends of the range.")


scale = Exercise(
    "quant-scale",
    answer="scale",
    checker=_scale_checker,
    reference=_scale_reference,
    hint="8-bit affine codes run from 0 to 255. How many steps lie between the lowest and the "
         "highest level, and how long is the range they must span?",
)


# 2. The zero point ---------------------------------------------------------------------------


def _zero_point_reference() -> int:
    # The code that stands for 0: z = qmin - round(min / s), with s = 6 / 255.
    min_val, max_val, qmin, qmax = -1.5, 4.5, 0, 255
    s = (max_val - min_val) / (qmax - qmin)
    zero_point = qmin - round(min_val / s)  # -1.5 / s = -63.75 -> -64
    return zero_point


def _zero_point_checker(answer: Any) -> None:
    v = _number("zero_point", answer)
    if v != round(v):
        raise Incorrect(f"{v:g} is not an integer. The zero point is a code, and codes are "
                        "integers: real 0 must be represented exactly by one of them.")
    v = int(round(v))
    if v == 64:
        return
    if v == 63:
        raise Incorrect("63 truncates −1.5/s = −63.75 towards zero; quantization rounds to the "
                        "nearest integer.")
    if v == -64:
        raise Incorrect("Check the sign: the zero point is a code in [0, 255], and the minimum "
                        "(−1.5) must map to code 0, below the zero point.")
    if v in (127, 128):
        raise Incorrect("The range [−1.5, 4.5] is not centred on 0, so real 0 does not sit in "
                        "the middle of the codes.")
    raise Incorrect(f"{v} is not the zero point. Which code q gives s·(q − z) = −1.5 for q = 0?")


zero_point = Exercise(
    "quant-zero-point",
    answer="zero_point",
    checker=_zero_point_checker,
    reference=_zero_point_reference,
    hint="Code 0 must stand for the minimum, −1.5: solve s·(0 − z) = −1.5 for z, then round "
         "to the nearest integer.",
)


# 3. Quantize and dequantize by hand ----------------------------------------------------------


def _clip_reference() -> float:
    # 4-bit affine, s = 0.25, z = 4: levels s (q - z) for q = 0..15, i.e. -1.0 .. 2.75.
    x, s, z, qmin, qmax = 3.3, 0.25, 4, 0, 15
    q = min(max(round(x / s) + z, qmin), qmax)  # round(13.2) + 4 = 17 -> clamped to 15
    x_hat = s * (q - z)
    return x_hat


def _clip_checker(answer: Any) -> None:
    v = _number("x_hat", answer)
    if math.isclose(v, 2.75, rel_tol=1e-9):
        return
    if math.isclose(v, 3.25, rel_tol=1e-9):
        raise Incorrect("3.25 is the nearest multiple of the step, but is its code available "
                        "with 4 bits?")
    if math.isclose(v, 3.75, rel_tol=1e-9):
        raise Incorrect("You clamped the code correctly but forgot to subtract the zero point "
                        "when dequantizing.")
    if math.isclose(v, 4.25, rel_tol=1e-9) or math.isclose(v, 17, rel_tol=1e-9) \
            or math.isclose(v, 15, rel_tol=1e-9):
        raise Incorrect("Give the dequantized real value s·(q − z), with the code q clamped to "
                        "the 4-bit range first.")
    raise Incorrect(f"{v:g} is not x̂. Compute the code round(x/s) + z, clamp it to [0, 15], "
                    "then map it back.")


clip = Exercise(
    "quant-clip",
    answer="x_hat",
    checker=_clip_checker,
    reference=_clip_reference,
    hint="First the code: round(x / s) + z. Is it a valid 4-bit code? Then x̂ = s (q − z).",
)


# 4. Fake quantization with a straight-through gradient ----------------------------------------


def _ste_reference() -> Callable[..., Any]:
    def fake_quant(x, scale, zero_point, qmin, qmax):
        u = torch.round(x * (1.0 / scale)) + zero_point  # the code before the clamp
        x_hat = (torch.clamp(u, qmin, qmax) - zero_point) * scale
        inside = ((u >= qmin) & (u <= qmax)).to(x.dtype)  # gradient 1 inside, 0 where clipped
        # forward: x_hat; backward: d x_hat / d x = inside (rounding treated as the identity)
        return x_hat.detach() + inside * (x - x.detach())

    return fake_quant


def _ste_checker(answer: Any) -> None:
    if not callable(answer):
        raise Incorrect(f"`fake_quant` should be a function, got {type(answer).__name__}")
    gen = torch.Generator().manual_seed(0)
    cases = [(0.1, 3, 0, 15), (0.05, 0, -128, 127), (0.3, 10, 0, 255)]
    for s, z, qmin, qmax in cases:
        x = (torch.randn(500, generator=gen) * 1.5).requires_grad_(True)
        expected_x = x.detach().clone().requires_grad_(True)
        expected = torch.fake_quantize_per_tensor_affine(expected_x, s, z, qmin, qmax)
        expected.backward(torch.ones_like(expected))
        got = answer(x, s, z, qmin, qmax)
        if not isinstance(got, torch.Tensor):
            raise Incorrect(f"fake_quant should return a torch tensor, got {type(got).__name__}")
        expect_close(f"fake_quant(x, scale={s}, zero_point={z}, qmin={qmin}, qmax={qmax})",
                     got.detach().numpy(), expected.detach().numpy(), rtol=1e-6, atol=1e-6 * s)
        if not got.requires_grad:
            raise Incorrect("No gradient flows through your output. The derivative of round is 0 "
                            "almost everywhere; the straight-through estimator replaces it by 1.")
        got.backward(torch.ones_like(got))
        grad = x.grad if x.grad is not None else torch.zeros_like(x)
        if torch.equal(grad, torch.ones_like(grad)) and not torch.equal(expected_x.grad, grad):
            raise Incorrect("Your gradient is 1 everywhere; where x is clipped, torch's gradient "
                            "is 0.")
        expect_close(f"the gradient of fake_quant (scale={s}, zero_point={z}, qmin={qmin}, "
                     f"qmax={qmax})", grad.numpy(), expected_x.grad.numpy(), rtol=0, atol=1e-12)


ste = Exercise(
    "quant-ste",
    answer="fake_quant",
    checker=_ste_checker,
    reference=_ste_reference,
    hint="Compute x̂ without gradients, and a 0/1 mask of the entries whose rounded code lies "
         "in [qmin, qmax]. Then return something that equals x̂ in value but whose derivative "
         "with respect to x is the mask: `a.detach() + mask * (x - x.detach())` is one way.",
)
