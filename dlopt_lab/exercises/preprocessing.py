"""Exercises of the chapter "Data preprocessing"."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch  # imported here, not inside a check's time limit

from dlopt_lab.exercises.core import Exercise, Incorrect, expect_close, expect_number, expect_shape
from dlopt_lab.preprocessing import shift_images

__all__ = ["condition_number", "largest_z", "minmax_new_point", "shift", "standardize"]


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _allclose(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-9, atol=1e-12))


# 1. Standardize new data with the training statistics ----------------------------------------


def _standardize_reference() -> Callable[..., np.ndarray]:
    def standardize(x_train, x_new):
        # The statistics come from the training data alone (sigma divides by n), and are
        # applied unchanged to the new data.
        x_train = np.asarray(x_train, dtype=float)
        mean, std = x_train.mean(), x_train.std()
        return (np.asarray(x_new, dtype=float) - mean) / std

    return standardize


def _standardize_checker(answer: Any) -> None:
    if not callable(answer):
        raise Incorrect(f"`standardize` should be a function, got {type(answer).__name__}")
    rng = np.random.default_rng(3)
    cases = [
        (np.array([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]), np.array([5.0, 9.0, 1.0])),
        (rng.normal(10.0, 3.0, size=50), rng.normal(12.0, 5.0, size=7)),
        (rng.uniform(0.0, 1000.0, size=20), rng.uniform(500.0, 2000.0, size=4)),
    ]
    for x_train, x_new in cases:
        train_copy, new_copy = x_train.copy(), x_new.copy()
        got = answer(x_train, x_new)
        if not (np.array_equal(x_train, train_copy) and np.array_equal(x_new, new_copy)):
            raise Incorrect("Your function changed its inputs in place; compute a new array.")
        got = expect_shape(f"standardize(x_train, x_new) for x_new of shape {x_new.shape}", got,
                           x_new.shape)
        m, s = x_train.mean(), x_train.std()
        right = (x_new - m) / s
        if _allclose(got, right):
            continue
        if _allclose(got, (x_new - x_new.mean()) / x_new.std()):
            raise Incorrect("You standardized the new data with its own mean and standard "
                            "deviation. New data must be transformed with the statistics of "
                            "the training data, exactly as the model saw them in training.")
        if _allclose(got, (x_new - m) / x_train.std(ddof=1)):
            raise Incorrect("You divided by the sample standard deviation (n − 1). This chapter, "
                            "like NumPy's std and scikit-learn's StandardScaler, divides by n.")
        if _allclose(got, x_new / s):
            raise Incorrect("You scaled but did not centre: subtract the training mean first.")
        if _allclose(got, x_new - m):
            raise Incorrect("You centred but did not scale: divide by the training standard "
                            "deviation.")
        if _allclose(got, (x_new - x_train.min()) / (x_train.max() - x_train.min())):
            raise Incorrect("That is min-max scaling. A z-score uses the mean and the standard "
                            "deviation.")
        expect_close(f"standardize(x_train, x_new) on a training set of {len(x_train)} values",
                     got, right, rtol=1e-9, atol=1e-12)


standardize = Exercise(
    "prep-standardize",
    answer="standardize",
    checker=_standardize_checker,
    reference=_standardize_reference,
    hint="Compute the mean and the standard deviation of x_train (np.mean, np.std), then "
         "apply z = (x − mean) / std to x_new.",
)


# 2. How large can a z-score be? ---------------------------------------------------------------


def _largest_z_reference() -> float:
    # Samuelson's inequality: on n values, |z| <= sqrt(n - 1), with equality when all values
    # but one are equal. With one value a and 16 values b: mean = (a + 16 b) / 17,
    # sigma = 4 |a - b| / 17 and z = (16 (a - b) / 17) / sigma = 4.
    n = 17
    z_max = math.sqrt(n - 1)
    return z_max


def _largest_z_checker(answer: Any) -> None:
    v = expect_number("z_max", answer)
    if _close(v, 4.0):
        return
    if _close(v, 1.0):
        raise Incorrect("z-scores are not bounded by 1: a z-score counts standard deviations, "
                        "and a value can lie several of them from the mean.")
    if _close(v, 3.0):
        raise Incorrect("'Three sigma' is a rule of thumb for Gaussian data, not a bound. Try "
                        "the most extreme data set: one value differs, the other 16 are equal.")
    if _close(v, math.sqrt(17)):
        raise Incorrect("Close, but the extreme value pulls the mean toward itself. Work it out "
                        "for one value a and 16 values b.")
    if _close(v, 16.0):
        raise Incorrect("That is the ratio of two variances, not of a deviation to a standard "
                        "deviation.")
    if v <= 0:
        raise Incorrect("The question asks for the largest absolute value |z|, a positive number.")
    raise Incorrect(f"{v:g} is not it. Take one value a and 16 values b, compute the mean, "
                    "the standard deviation (divide by n) and the z-score of a.")


largest_z = Exercise(
    "prep-largest-z",
    answer="z_max",
    checker=_largest_z_checker,
    reference=_largest_z_reference,
    hint="The most extreme training set has one value a and 16 equal values b. Compute its "
         "mean and standard deviation (divide by n), then the z-score of a; it does not "
         "depend on a and b.",
)


# 3. Min-max scaling of a new point ------------------------------------------------------------


def _minmax_reference() -> float:
    # The scaler keeps the training minimum and maximum, and new data goes through the same
    # affine map, which is not clipped: a value above the training maximum lands above 1.
    x_train = [3.0, 7.0, 5.0, 11.0]
    x_min, x_max = min(x_train), max(x_train)
    scaled = (13.0 - x_min) / (x_max - x_min)
    return scaled


def _minmax_checker(answer: Any) -> None:
    v = expect_number("scaled", answer)
    if _close(v, 1.25):
        return
    if _close(v, 1.0):
        raise Incorrect("The scaler maps the *training* range onto [0, 1]; it does not clip, "
                        "and it is not refitted on new data. Apply the same affine map.")
    if _close(v, 13 / 11):
        raise Incorrect("Subtract the training minimum before dividing by the range.")
    if _close(v, 10 / 11) or _close(v, 10 / 13):
        raise Incorrect("Divide by the training range, maximum minus minimum.")
    if _close(v, (13 - 6.5) / math.sqrt(8.75)):
        raise Incorrect("That is a z-score. Min-max scaling uses the training minimum and "
                        "maximum.")
    raise Incorrect(f"{v:g} is not it. The scaler stores the training minimum m and maximum M "
                    "and computes (x − m) / (M − m).")


minmax_new_point = Exercise(
    "prep-minmax-new",
    answer="scaled",
    checker=_minmax_checker,
    reference=_minmax_reference,
    hint="Fit: the training minimum and maximum. Transform: (x − min) / (max − min), with the "
         "same numbers for every new x.",
)


# 4. The condition number after standardizing --------------------------------------------------


def _condition_reference() -> float:
    # Standardizing divides feature j by its standard deviation s_j, so the covariance
    # matrix (the Hessian) becomes the correlation matrix [[1, rho], [rho, 1]], with
    # eigenvalues 1 + rho and 1 - rho. The scales 0.5 and 20 no longer matter.
    rho = 0.6
    kappa_std = (1 + rho) / (1 - rho)
    return kappa_std


def _condition_checker(answer: Any) -> None:
    v = expect_number("kappa_std", answer)
    if _close(v, 4.0):
        return
    raw = np.linalg.eigvalsh(np.array([[0.25, 0.6 * 0.5 * 20], [0.6 * 0.5 * 20, 400.0]]))
    if _close(v, 1.0):
        raise Incorrect("Standardizing makes every variance 1, but it leaves the correlation "
                        "between the features: the Hessian becomes the correlation matrix, "
                        "not the identity.")
    if _close(v, raw[1] / raw[0]):
        raise Incorrect("That is the condition number before standardizing. What is the "
                        "covariance matrix of the standardized features?")
    if _close(v, 1.6) or _close(v, 0.4):
        raise Incorrect("That is one eigenvalue of the correlation matrix; the condition number "
                        "is the ratio of the largest to the smallest.")
    if _close(v, 0.25):
        raise Incorrect("Upside down: the condition number is the largest eigenvalue divided "
                        "by the smallest, so it is at least 1.")
    raise Incorrect(f"{v:g} is not it. Write the covariance matrix of the two standardized "
                    "features, then its two eigenvalues.")


condition_number = Exercise(
    "prep-kappa",
    answer="kappa_std",
    checker=_condition_checker,
    reference=_condition_reference,
    hint="After standardizing, each feature has variance 1 and the correlation is unchanged. "
         "The eigenvalues of [[1, ρ], [ρ, 1]] are easy to guess: try the vectors (1, 1) "
         "and (1, −1).",
)


# 5. A shift, written with torch ops ---------------------------------------------------------


def _shift_reference() -> Callable[..., Any]:
    def shift_right(x):
        # Drop the last column, put a column of zeros in front: (N, C, H, W) -> (N, C, H, W).
        zeros = torch.zeros_like(x[..., :1])
        return torch.cat([zeros, x[..., :-1]], dim=-1)

    return shift_right


def _shift_checker(answer: Any) -> None:
    if not callable(answer):
        raise Incorrect(f"`shift_right` should be a function, got {type(answer).__name__}")
    gen = torch.Generator().manual_seed(5)
    for shape in [(3, 1, 8, 8), (2, 2, 5, 7), (1, 1, 1, 4)]:
        x = torch.rand(shape, generator=gen, dtype=torch.float64) + 0.5  # no zeros inside
        x_copy = x.clone()
        got = answer(x)
        if not torch.equal(x, x_copy):
            raise Incorrect("Your function changed `x` in place; build a new tensor.")
        name = f"shift_right(x) for x of shape {shape}"
        got = expect_shape(name, got, shape)
        right = shift_images(x, 0, 1).numpy()
        if _allclose(got, right):
            continue
        if _allclose(got, torch.roll(x, 1, dims=-1).numpy()):
            raise Incorrect("torch.roll wraps the last column around to the left border. A "
                            "shift should bring in zeros (blank paper) instead.")
        if _allclose(got, shift_images(x, 0, -1).numpy()):
            raise Incorrect("Your image moved to the left. Shifting right means the pixel in "
                            "column c moves to column c + 1.")
        if _allclose(got, shift_images(x, 1, 0).numpy()):
            raise Incorrect("Your image moved down: the last axis (W) holds the columns.")
        expect_close(name, got, right, rtol=1e-9, atol=1e-12)


shift = Exercise(
    "prep-shift",
    answer="shift_right",
    checker=_shift_checker,
    reference=_shift_reference,
    hint="Slice off the last column with x[..., :-1] and put a column of zeros in front with "
         "torch.cat along the last dimension (or use torch.nn.functional.pad).",
)
