"""Checked exercises: the mechanism (:mod:`.core`) and one module of exercises per chapter.

In a chapter::

    from dlopt_lab.exercises import gradient_descent as ex
    lr_max = ...            # the learner's answer
    ex.stability.check()    # feedback; ex.stability.hint(), ex.stability.solution()
"""

from dlopt_lab.exercises.core import (
    CheckResult,
    Exercise,
    Incorrect,
    all_exercises,
    expect_close,
    expect_number,
    expect_shape,
)

__all__ = [
    "CheckResult",
    "Exercise",
    "Incorrect",
    "all_exercises",
    "expect_close",
    "expect_number",
    "expect_shape",
]
