"""Checked exercises: ``check()``, ``hint()`` and ``solution()``, as learners know from Kaggle Learn.

An :class:`Exercise` knows the name of the learner's answer (a variable or a function in the
notebook), a checker that compares it with a reference, a hint, and a reference solution
written as a function, whose source is what :meth:`Exercise.solution` shows.

``check()`` never crashes on a wrong answer: an exception raised by the learner's code is
reported as feedback, an answer that runs too long is stopped (on the main thread, where
notebooks run), and the solution is shown only when asked for. With the environment variable
``DLOPT_LAB_STRICT=1`` (set by the book's build and tests) a check that finds a *wrong* answer
raises, so a solution cell whose check fails breaks the build instead of printing a red box.
"""

from __future__ import annotations

import dis
import html
import inspect
import math
import os
import signal
import sys
import textwrap
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "CheckResult",
    "Exercise",
    "Incorrect",
    "all_exercises",
    "expect_close",
    "expect_number",
    "expect_shape",
]


class Incorrect(Exception):
    """Raised by a checker to say what is wrong with an answer, in words for the learner."""


class _TimeLimit(BaseException):
    """Raised inside the learner's code when its time is up (not an ``Exception``, so a bare
    ``except Exception`` in the learner's code cannot swallow it)."""


_STYLES = {
    "correct": ("#1a7f37", "✔ Correct"),
    "incorrect": ("#cf222e", "✘ Not yet"),
    "error": ("#cf222e", "✘ Your code raised an error"),
    "timeout": ("#cf222e", "✘ Too slow"),
    "not_attempted": ("#9a6700", "… Not attempted yet"),
}


@dataclass(frozen=True)
class CheckResult:
    """What :meth:`Exercise.check` found. ``bool(result)`` is ``True`` only when correct."""

    exercise: str
    status: str  # one of _STYLES
    message: str

    def __bool__(self) -> bool:
        return self.status == "correct"

    def __repr__(self) -> str:
        title = _STYLES[self.status][1]
        return f"[{self.exercise}] {title}: {self.message}"

    def _repr_html_(self) -> str:
        color, title = _STYLES[self.status]
        return (
            f'<div class="dlopt-check dlopt-check-{self.status}" style="border-left:4px solid '
            f'{color};padding:0.3em 0.8em;margin:0.3em 0"><strong style="color:{color}">'
            f"{html.escape(title)}</strong> <span>({html.escape(self.exercise)})</span><br>"
            f"{html.escape(self.message)}</div>"
        )


_REGISTRY: dict[str, Exercise] = {}

_NOT_ATTEMPTED = object()


class Exercise:
    """One checked exercise.

    Args:
        label: a unique id, also the book's exercise label (``"gd-stability"``).
        answer: the name the learner assigns (``"lr_max"``) or defines (``"gradient_descent"``).
        checker: ``checker(answer)`` raises :class:`Incorrect` with a specific message, or
            returns normally when the answer is right.
        reference: a function whose body *is* the solution. Called with no arguments it returns
            the reference answer (a value, or the reference function).
        hint: a nudge that does not give the answer away.
        time_limit: seconds the learner's code may run during a check.
    """

    def __init__(
        self,
        label: str,
        *,
        answer: str,
        checker: Callable[[Any], None],
        reference: Callable[[], Any],
        hint: str,
        time_limit: float = 10.0,
    ) -> None:
        if (not isinstance(label, str) or not label.isascii()
                or not label.replace("-", "").replace("_", "").isalnum()):
            raise ValueError(f"label must be letters, digits, '-' or '_', got {label!r}")
        if not isinstance(answer, str) or not answer.isidentifier():
            raise ValueError(f"answer must be a Python identifier, got {answer!r}")
        if not time_limit > 0:
            raise ValueError(f"time_limit must be positive, got {time_limit!r}")
        self.label = label
        self.answer = answer
        self._checker = checker
        self._reference = reference
        self._hint = hint
        self.time_limit = float(time_limit)
        _REGISTRY[label] = self

    # -- for the learner ------------------------------------------------------------------------

    def check(self, answer: Any = _NOT_ATTEMPTED) -> CheckResult:
        """Check the learner's answer: the argument if given, else the notebook's ``answer`` name."""
        if answer is _NOT_ATTEMPTED:
            caller = sys._getframe(1).f_globals
            answer = caller.get(self.answer, _NOT_ATTEMPTED)
        if answer is _NOT_ATTEMPTED or answer is Ellipsis or answer is None or _is_stub(answer):
            result = CheckResult(
                self.label,
                "not_attempted",
                f"Define `{self.answer}` in the cell above (replace the `...`), then run this check.",
            )
        else:
            result = self._run_checker(answer)
        if os.environ.get("DLOPT_LAB_STRICT") == "1" and result.status in ("incorrect", "error",
                                                                           "timeout"):
            raise AssertionError(f"strict mode: {result!r}")
        return result

    def hint(self) -> str:
        """A nudge toward the answer (printed, and returned)."""
        text = f"Hint ({self.label}): {self._hint}"
        print(text)
        return text

    def solution(self) -> str:
        """The reference solution's source code (printed, and returned). Only when asked."""
        src = textwrap.dedent(inspect.getsource(self._reference))
        print(src)
        return src

    # -- for the book and its tests -------------------------------------------------------------

    def reference_answer(self) -> Any:
        """The reference answer (the value, or the reference function)."""
        return self._reference()

    def _run_checker(self, answer: Any) -> CheckResult:
        deadline = _Deadline(self.time_limit)
        try:
            deadline.start()
            try:
                self._checker(answer)
            finally:
                deadline.stop()
        except Incorrect as exc:
            return CheckResult(self.label, "incorrect", str(exc))
        except _TimeLimit:
            return CheckResult(
                self.label,
                "timeout",
                f"Your `{self.answer}` ran for more than {self.time_limit:g} s and was stopped. "
                "Is there a loop that never ends?",
            )
        except (Exception, SystemExit) as exc:  # the learner's code failed: feedback, not a crash
            detail = _describe(exc)
            return CheckResult(self.label, "error", f"Your `{self.answer}` raised {type(exc).__name__}"
                               + (f": {detail}" if detail else ""))
        return CheckResult(self.label, "correct", _praise(self.answer))

    def __repr__(self) -> str:
        return (f"<Exercise {self.label}: define `{self.answer}`, then call .check(); "
                ".hint() and .solution() help>")


def _instructions(code: Any) -> list[tuple[str, Any]]:
    return [(i.opname, i.argval) for i in dis.get_instructions(code)]


_STUB = _instructions((lambda: None).__code__)


def _is_stub(answer: Any) -> bool:
    """Whether ``answer`` is a function whose body does nothing (``...`` or ``pass``)."""
    try:
        code = getattr(answer, "__code__", None)
        return isinstance(code, type(_is_stub.__code__)) and _instructions(code) == _STUB
    except Exception:  # an answer object whose attribute access fails is not a stub
        return False


def _describe(exc: BaseException) -> str:
    """The exception's message, even when its ``__str__`` itself fails."""
    try:
        return str(exc)
    except Exception:
        return "(its message could not be shown)"


def _praise(name: str) -> str:
    return f"`{name}` passes every test."


class _Deadline:
    """Interrupt the learner's code after ``seconds`` (POSIX, main thread; elsewhere no limit).

    SIGALRM raises :class:`_TimeLimit` in whatever is running. A learner's bare ``except:`` in a
    loop could swallow that one exception forever, so from then on a trace function raises it
    again on the next line of code outside this module, and the alarm repeats every 50 ms to
    break into a long ``time.sleep``. :meth:`stop` disarms both; it must run in a ``finally``.

    The limit of an in-process check: Python drops a trace function once it raises, so code
    that swallows the exception at two nested levels of loops (``except BaseException`` in
    both) still runs forever. The assignments' grader (:mod:`dlopt_lab.grading`) runs each
    submission in its own process and kills it at its time limit.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.active = False
        self.usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()

    def start(self) -> None:
        if not self.usable:
            return
        self.active, self.expired = True, False
        self.previous_trace = sys.gettrace()
        self.previous_handler = signal.signal(signal.SIGALRM, self._alarm)
        signal.setitimer(signal.ITIMER_REAL, self.seconds, 0.05)

    def stop(self) -> None:
        if not self.usable or not self.active:
            return
        self.active = False  # first: an alarm that still arrives is ignored
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.previous_handler)
        if self.expired:
            sys.settrace(self.previous_trace)

    def _alarm(self, signum: int, frame: Any) -> None:
        if not self.active:
            return
        self.expired = True
        # Python drops a trace function once it raises, so every alarm installs it again.
        stack = frame
        while stack is not None and stack.f_code.co_filename != __file__:
            stack.f_trace = self._trace  # the frames running now...
            stack = stack.f_back
        sys.settrace(self._trace)  # ...and every frame they call
        raise _TimeLimit()

    def _trace(self, frame: Any, event: str, arg: Any) -> Any:
        # Raise on a new line (inside an ``except`` block too, where it escapes the ``try``),
        # not on the "exception" event of the _TimeLimit already on its way.
        if event == "line" and self.active and frame.f_code.co_filename != __file__:
            raise _TimeLimit()
        return self._trace


def all_exercises() -> dict[str, Exercise]:
    """Every exercise defined so far, by label (import the chapter modules first)."""
    return dict(_REGISTRY)


# --------------------------------------------------------------------------------------------
# Small helpers for writing checkers
# --------------------------------------------------------------------------------------------


def expect_number(name: str, value: Any) -> float:
    """Return ``value`` as a float, or raise :class:`Incorrect` unless it is a finite real number."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise Incorrect(f"`{name}` should be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise Incorrect(f"`{name}` should be a finite number, got {value}")
    return float(value)


def expect_shape(name: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Convert ``value`` to an array and raise :class:`Incorrect` unless it has ``shape``."""
    if type(value).__module__.startswith("torch"):
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise Incorrect(f"{name} should be an array of numbers, got {type(value).__name__}") from None
    if arr.shape != tuple(shape):
        raise Incorrect(f"{name} has the wrong shape: expected {tuple(shape)}, got {arr.shape}")
    return arr


def expect_close(name: str, value: Any, expected: Any, *, rtol: float = 1e-6,
                 atol: float = 1e-9) -> None:
    """Raise :class:`Incorrect` unless ``value`` is close to ``expected`` (shape checked first)."""
    exp = np.asarray(expected, dtype=float)
    arr = expect_shape(name, value, exp.shape)
    if not np.all(np.isfinite(arr)):
        raise Incorrect(f"{name} contains NaN or infinity")
    if not np.allclose(arr, exp, rtol=rtol, atol=atol):
        err = np.max(np.abs(arr - exp))
        raise Incorrect(f"{name} is not right yet: it differs from the expected values by up to {err:.3g}")
