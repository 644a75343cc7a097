"""Exercises of the chapter "Deployment"."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dlopt_lab.exercises.core import Exercise, Incorrect, expect_number

__all__ = ["p99", "int8_bytes", "status_code", "unsafe_load"]


def _integer(name: str, value: Any) -> int:
    v = expect_number(name, value)
    if v != round(v):
        raise Incorrect(f"{v:g} is not a whole number, and `{name}` counts something.")
    return int(round(v))


# 1. The 99th percentile of latencies ---------------------------------------------------------


def _p99_reference():
    def p99(latencies_ms):
        # numpy's default definition: linear interpolation between the order statistics
        # at position (n - 1) * 0.99 of the sorted list.
        s = np.sort(np.asarray(latencies_ms, dtype=float))
        pos = (len(s) - 1) * 0.99
        lo = math.floor(pos)
        hi = min(lo + 1, len(s) - 1)
        return float(s[lo] + (s[hi] - s[lo]) * (pos - lo))

    return p99


_P99_CASES = [
    [3.0, 1.0, 2.0],
    [5.2, 4.9, 5.0, 5.1, 40.0, 5.3, 4.8, 5.0, 5.05, 6.0],
    list(np.random.default_rng(0).gamma(2.0, 3.0, size=257).round(3)),
    [7.5],
]


def _p99_checker(answer: Any) -> None:
    if not callable(answer):
        raise Incorrect(f"`p99` should be a function, got {type(answer).__name__}")
    for case in _P99_CASES:
        expected = float(np.percentile(case, 99))
        try:
            got = float(np.asarray(answer(list(case)), dtype=float))
        except (TypeError, ValueError):
            raise Incorrect("`p99(latencies_ms)` should return one number") from None
        if math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-12):
            continue
        s = sorted(case)
        n = len(s)
        if math.isclose(got, s[-1], rel_tol=1e-12):
            raise Incorrect(f"For {n} latencies you returned the largest one. The 99th percentile "
                            "lies between two order statistics, not at the end.")
        if math.isclose(got, float(np.mean(case)), rel_tol=1e-12):
            raise Incorrect("That is the mean latency; a tail percentile looks at the slow end.")
        if any(math.isclose(got, s[k], rel_tol=1e-12)
               for k in {min(int(0.99 * n), n - 1), max(math.ceil(0.99 * n) - 1, 0)}):
            raise Incorrect(f"For {n} latencies you returned one of the measured values "
                            "(a nearest-rank percentile). numpy's default interpolates "
                            "linearly between two neighbouring sorted values.")
        if n > 1 and math.isclose(got, s[0] + (s[-1] - s[0]) * 0.99, rel_tol=1e-12):
            raise Incorrect("That interpolates between the minimum and the maximum. Sort the "
                            "latencies and interpolate between the two neighbouring ones.")
        raise Incorrect(f"For the {n} latencies {case if n <= 10 else '(a longer list)'} "
                        f"your p99 is {got:g}, which is not numpy's 99th percentile.")


p99 = Exercise(
    "deploy-p99",
    answer="p99",
    checker=_p99_checker,
    reference=_p99_reference,
    hint="Sort the n latencies. numpy puts the q-th percentile at position (n - 1)·q/100 of the "
         "sorted list (counting from 0); when that position is not a whole number, interpolate "
         "linearly between its two neighbours.",
)


# 2. The size of an int8 weight matrix --------------------------------------------------------


def _int8_bytes_reference() -> int:
    # nn.Linear(784, 256): a (256, 784) weight, one signed byte per entry, plus one float32
    # scale per output channel (row) for symmetric per-channel quantization (zero point 0).
    out_features, in_features = 256, 784
    int8_bytes = out_features * in_features * 1 + out_features * 4
    return int8_bytes


def _int8_bytes_checker(answer: Any) -> None:
    v = _integer("int8_bytes", answer)
    weights = 256 * 784
    if v == weights + 256 * 4:
        return
    if v == 4 * weights:
        raise Incorrect("That is the float32 matrix: four bytes per entry. An int8 code takes one.")
    if v == weights:
        raise Incorrect("The codes alone are not enough to read the weights back: each output "
                        "channel also stores its scale.")
    if v == weights + 4:
        raise Incorrect("That is one scale for the whole tensor (per-tensor quantization). "
                        "Per-channel quantization stores one scale per output channel.")
    if v == weights + 784 * 4:
        raise Incorrect("A Linear layer's output channels are the rows of its (out, in) weight: "
                        "there are 256 of them, not 784.")
    if v == weights + 256 * 8:
        raise Incorrect("Symmetric quantization has zero point 0, so only the scales are stored.")
    if v == 8 * weights or v == weights // 4 + 256 * 4:
        raise Incorrect("Count the bytes of one int8 code and of one float32 number again.")
    raise Incorrect(f"{v} bytes is not it. Count the codes of the (256, 784) matrix, then what "
                    "each output channel needs besides.")


int8_bytes = Exercise(
    "deploy-int8-bytes",
    answer="int8_bytes",
    checker=_int8_bytes_checker,
    reference=_int8_bytes_reference,
    hint="The weight of nn.Linear(in_features, out_features) has shape (out_features, "
         "in_features). How many bytes does one int8 code take, and how many float32 scales "
         "does per-channel quantization keep?",
)


# 3. The status code for an oversized batch ---------------------------------------------------


def _status_code_reference() -> int:
    # Valid JSON, a small body, every number fine, but 300 rows > max_batch = 256:
    # the content breaks the schema, which is a 422 (413 is about the size of the body in bytes).
    status_code = 422
    return status_code


def _status_code_checker(answer: Any) -> None:
    v = _integer("status_code", answer)
    if v == 422:
        return
    if v == 413:
        raise Incorrect("413 means the body is too large in bytes, and this one is well under "
                        "the service's byte limit. Which rule does the request break?")
    if v == 400:
        raise Incorrect("The body is valid JSON. Our service keeps 400 for bodies that are not.")
    if v == 200:
        raise Incorrect("The service promises at most max_batch = 256 rows per request: a bigger "
                        "batch is refused, not served.")
    if 500 <= v <= 599:
        raise Incorrect("A 5xx says the server failed. Here the client sent a request that breaks "
                        "the service's rules: that is a 4xx.")
    if v == 415:
        raise Incorrect("The request is declared as application/json, so the media type is fine.")
    raise Incorrect(f"{v} is not the code our service returns here; see the table of codes in "
                    "the docstring of the module dlopt_lab.serve.")


status_code = Exercise(
    "deploy-status",
    answer="status_code",
    checker=_status_code_checker,
    reference=_status_code_reference,
    hint="The body is small and valid JSON; only its content breaks a limit of the request "
         "schema. Which code did the chapter's service return for a row of the wrong length?",
)


# 4. Which load runs code from the file? ------------------------------------------------------


def _unsafe_load_reference() -> int:
    # 1 safetensors.torch.load_file: reads raw tensor bytes and a JSON header, no pickle.
    # 2 torch.load(path, weights_only=True): a restricted unpickler, refuses arbitrary callables.
    # 3 torch.load(path) in recent torch: weights_only defaults to True, as in 2.
    # 4 torch.load(path, weights_only=False): the full unpickler, calls whatever the file names.
    # 5 json.load: data only.
    unsafe_load = 4
    return unsafe_load


def _unsafe_load_checker(answer: Any) -> None:
    v = _integer("unsafe_load", answer)
    if v == 4:
        return
    if v == 3:
        raise Incorrect("In the torch installed here (and every recent version), torch.load's "
                        "weights_only already defaults to True. Look for the call that turns it off.")
    if v == 2:
        raise Incorrect("weights_only=True is the restricted unpickler: the chapter showed it "
                        "refusing the crafted file.")
    if v in (1, 5):
        raise Incorrect("That format holds only data (a JSON header, raw numbers); loading it "
                        "calls no function named by the file.")
    raise Incorrect(f"Answer with the number of one of the five calls (1 to 5), not {v}.")


unsafe_load = Exercise(
    "deploy-unsafe-load",
    answer="unsafe_load",
    checker=_unsafe_load_checker,
    reference=_unsafe_load_reference,
    hint="Only a full unpickler calls the functions a file names in its __reduce__ entries. "
         "Which of the five calls uses one?",
)
