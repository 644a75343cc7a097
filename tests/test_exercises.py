"""Checked exercises: the mechanism on small made-up exercises, and every real chapter exercise."""

import importlib
import inspect
import itertools
import pkgutil
import signal
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

# Every chapter's exercises are registered before the parametrized tests below are collected.
import dlopt_lab.exercises as _exercises_pkg  # noqa: E402
from dlopt_lab.exercises import (
    CheckResult,
    Exercise,
    Incorrect,
    all_exercises,
    core,
    expect_close,
    expect_shape,
)
from dlopt_lab.exercises import gradient_descent as gd

for _module in pkgutil.iter_modules(_exercises_pkg.__path__):
    if _module.name != "core":
        importlib.import_module(f"dlopt_lab.exercises.{_module.name}")

CHAPTER_LABELS = {"gd-stability", "gd-implement", "gd-rate", "gd-mse-grad"}
_ids = itertools.count()


@pytest.fixture(autouse=True)
def _restore_registry():
    """Exercises made by a test must not linger in the registry the book iterates over."""
    saved = dict(core._REGISTRY)
    yield
    core._REGISTRY.clear()
    core._REGISTRY.update(saved)


def _double_reference():
    def double(x):
        return 2 * x  # the reference body

    return double


def _double_checker(answer):
    if not callable(answer):
        raise Incorrect("`double` should be a function")
    for x in (0, 3, -2.5):
        if answer(x) != 2 * x:
            raise Incorrect(f"double({x}) should be {2 * x}, got {answer(x)!r}")


def _double(time_limit: float = 5.0) -> Exercise:
    return Exercise(f"test-double-{next(_ids)}", answer="double", checker=_double_checker,
                    reference=_double_reference, hint="Multiply by two.", time_limit=time_limit)


def _check_in_notebook(ex: Exercise, namespace: dict) -> CheckResult:
    """Call ``ex.check()`` with no argument from code whose globals are ``namespace``, as a cell."""
    g = {"ex": ex, **namespace}
    exec("result = ex.check()", g)
    return g["result"]


# --------------------------------------------------------------------------------------------
# The mechanism
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("namespace", [{}, {"double": ...}, {"double": None}])
def test_not_attempted(namespace):
    ex = _double()
    result = _check_in_notebook(ex, namespace)
    assert result.status == "not_attempted" and not result
    assert "`double`" in result.message
    assert ex.check(...).status == ex.check(None).status == "not_attempted"


def test_stub_functions_count_as_not_attempted():
    ex = _double()
    namespace = {}
    exec("def double(x):\n    ...\n", namespace)
    assert _check_in_notebook(ex, namespace).status == "not_attempted"
    exec("def double(x):\n    \"\"\"Twice x.\"\"\"\n    pass\n", namespace)
    assert ex.check(namespace["double"]).status == "not_attempted"
    exec("def double(x):\n    return x\n", namespace)
    assert ex.check(namespace["double"]).status == "incorrect"


def test_answer_is_found_in_the_callers_globals():
    ex = _double()
    right = _check_in_notebook(ex, {"double": lambda x: x + x})
    assert right.status == "correct" and bool(right) is True and right.exercise == ex.label
    wrong = _check_in_notebook(ex, {"double": lambda x: x * x})
    assert wrong.status == "incorrect" and bool(wrong) is False
    assert wrong.message == "double(3) should be 6, got 9"
    # this test module defines no `double`: called from here, nothing is found
    assert "double" not in globals()
    assert ex.check().status == "not_attempted"
    # an explicit argument wins over the globals
    assert ex.check(lambda x: 2 * x).status == "correct"


def test_learner_exception_is_feedback_not_a_crash():
    ex = _double()
    result = ex.check(lambda x: 1 / 0)
    assert result.status == "error" and not result
    assert result.message == "Your `double` raised ZeroDivisionError: division by zero"


def _spin(x):
    while True:
        try:
            time.sleep(0.005)
        except Exception:  # a learner's catch-all must not swallow the time limit
            pass


def test_infinite_loop_times_out_and_the_process_goes_on():
    ex = _double(time_limit=0.3)
    previous = signal.getsignal(signal.SIGALRM)
    start = time.perf_counter()
    result = ex.check(_spin)
    elapsed = time.perf_counter() - start
    assert result.status == "timeout" and not result
    assert "0.3 s" in result.message and "`double`" in result.message
    assert 0.25 < elapsed < 3.0
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # no alarm left armed
    assert signal.getsignal(signal.SIGALRM) is previous
    assert ex.check(lambda x: 2 * x).status == "correct"  # and checking still works


def _spin_bare(x):
    while True:
        try:
            time.sleep(0.005)
        except BaseException:  # noqa: S110 - a hostile catch-all that swallows even the time limit
            pass


def test_a_loop_that_swallows_the_time_limit_is_still_stopped():
    ex = _double(time_limit=0.2)
    start = time.perf_counter()
    result = ex.check(_spin_bare)
    assert result.status == "timeout", result
    assert time.perf_counter() - start < 5.0
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def _exits(x):
    raise SystemExit("bye")


class _Hostile:
    """An answer object whose every attribute access, comparison and conversion fails."""

    def __getattribute__(self, name):
        raise RuntimeError(f"no {name} for you")

    def __eq__(self, other):
        raise RuntimeError("no comparing")

    __hash__ = None


class _BadMessage(Exception):
    def __str__(self):
        raise RuntimeError("no message either")


def _raises_bad_message(x):
    raise _BadMessage()


@pytest.mark.parametrize(
    "answer, status, phrase",
    [
        (_exits, "error", "raised SystemExit: bye"),
        (_raises_bad_message, "error", "raised _BadMessage: (its message could not be shown)"),
        (lambda x: [2 * x], "incorrect", "double(0) should be 0, got [0]"),
    ],
)
def test_hostile_answers_are_feedback(answer, status, phrase):
    result = _double().check(answer)
    assert result.status == status and phrase in result.message, result


def test_an_exception_without_a_message_reads_cleanly():
    assert _double().check(lambda x: sys.exit()).message == "Your `double` raised SystemExit"


def test_a_hostile_answer_object_does_not_crash_the_check():
    result = _double().check(_Hostile())
    assert result.status in ("incorrect", "error") and not result, result
    assert "no comparing" not in repr(_double().check(lambda x: 2 * x))


def test_hint_and_solution_print_and_return(capsys):
    ex = _double()
    hint = ex.hint()
    assert hint == f"Hint ({ex.label}): Multiply by two."
    assert capsys.readouterr().out == hint + "\n"
    source = ex.solution()
    assert source == textwrap.dedent(inspect.getsource(_double_reference))
    assert "return 2 * x  # the reference body" in source
    assert capsys.readouterr().out == source + "\n"


def test_check_never_shows_the_solution(capsys):
    for ex, wrong in [(gd.stability, 0.25), (gd.rate, 0.96), (gd.implement, lambda *a: [[0.0]]),
                      (gd.mse_gradient, lambda w, X, y: np.zeros((1, 1)))]:
        result = ex.check(wrong)
        assert result.status == "incorrect"
        shown = repr(result) + result._repr_html_() + capsys.readouterr().out
        code = [ln.strip() for ln in ex.solution().splitlines() if len(ln.strip()) >= 12]
        capsys.readouterr()
        assert code and not [ln for ln in code if ln in shown]


def test_strict_mode_raises_on_wrong_answers_only(monkeypatch):
    ex = _double(time_limit=0.2)
    monkeypatch.setenv("DLOPT_LAB_STRICT", "1")
    for wrong in (lambda x: 3 * x, lambda x: 1 / 0, _spin):
        with pytest.raises(AssertionError, match=rf"^strict mode: \[{ex.label}\]"):
            ex.check(wrong)
    assert ex.check(None).status == "not_attempted"
    assert ex.check(lambda x: 2 * x).status == "correct"
    with pytest.raises(AssertionError, match="1/L"):
        gd.stability.check(0.25)
    monkeypatch.setenv("DLOPT_LAB_STRICT", "0")
    assert ex.check(lambda x: 3 * x).status == "incorrect"


def test_results_render_as_text_and_html():
    ex = _double()
    cases = {"correct": lambda x: 2 * x, "incorrect": lambda x: x, "error": lambda x: x.nope,
             "not_attempted": None}
    titles = {"correct": "✔ Correct", "incorrect": "✘ Not yet",
              "error": "✘ Your code raised an error", "not_attempted": "… Not attempted yet"}
    for status, answer in cases.items():
        result = ex.check(answer)
        assert result.status == status
        assert repr(result) == f"[{ex.label}] {titles[status]}: {result.message}"
        page = result._repr_html_()
        assert "<strong" in page and titles[status] in page
        assert f"dlopt-check-{status}" in page and ex.label in page
    # messages are escaped
    html_text = CheckResult("x", "incorrect", "a < b & c")._repr_html_()
    assert "a &lt; b &amp; c" in html_text and "a < b" not in html_text
    assert ex.label in repr(ex) and "`double`" in repr(ex)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"label": "has space"}, "^label"),
        ({"label": "naïve"}, "^label"),
        ({"label": ""}, "^label"),
        ({"label": "a/b"}, "^label"),
        ({"answer": "not-an-identifier"}, "^answer"),
        ({"answer": "1x"}, "^answer"),
        ({"time_limit": 0}, "^time_limit"),
        ({"time_limit": -1.0}, "^time_limit"),
    ],
)
def test_invalid_exercises_are_rejected(kwargs, match):
    args = {"label": f"test-ok-{next(_ids)}", "answer": "x", "checker": _double_checker,
            "reference": _double_reference, "hint": "", **kwargs}
    before = all_exercises()
    with pytest.raises(ValueError, match=match):
        Exercise(args.pop("label"), **args)
    assert all_exercises() == before


def test_expect_helpers():
    arr = expect_shape("g", torch.ones(2, 3, dtype=torch.float64, requires_grad=True), (2, 3))
    assert isinstance(arr, np.ndarray) and arr.shape == (2, 3)
    with pytest.raises(Incorrect, match=r"^g has the wrong shape: expected \(3, 2\), got \(2, 3\)"):
        expect_shape("g", np.zeros((2, 3)), (3, 2))
    with pytest.raises(Incorrect, match="should be an array of numbers, got list"):
        expect_shape("g", ["a", "b"], (2,))
    expect_close("v", [1.0, 2.0], np.array([1.0, 2.0 + 1e-9]))
    with pytest.raises(Incorrect, match="NaN or infinity"):
        expect_close("v", [1.0, np.nan], [1.0, 2.0])
    with pytest.raises(Incorrect, match=r"differs from the expected values by up to 0\.5"):
        expect_close("v", [1.0, 2.5], [1.0, 2.0])


# --------------------------------------------------------------------------------------------
# The chapter's exercises
# --------------------------------------------------------------------------------------------


def test_chapter_exercises_are_registered():
    found = all_exercises()
    assert CHAPTER_LABELS <= set(found)
    for name in gd.__all__:  # every exercise of the chapter module, under its own label
        ex = getattr(gd, name)
        assert isinstance(ex, Exercise) and found[ex.label] is ex
    found.clear()  # a copy: the registry is untouched
    assert CHAPTER_LABELS <= set(all_exercises())


@pytest.mark.parametrize(
    "ex, answer, phrase",
    [
        (gd.stability, 0.25, "1/L"),
        (gd.stability, 8.0, "flat direction"),
        (gd.stability, 4, "flat direction"),
        (gd.stability, 0.3, "0.3 is not the bound"),
        (gd.stability, "0.5", "should be a number, got str"),
        (gd.stability, True, "should be a number, got bool"),
        (gd.stability, float("inf"), "finite"),
        (gd.rate, 0.96, "1/L"),
        (gd.rate, 1.5, "between 0 and 1"),
        (gd.rate, 0.5, "0.5 is not it"),
        (gd.implement, 3.0, "should be a function, got float"),
        (gd.mse_gradient, "grad", "should be a function, got str"),
    ],
)
def test_value_answers_get_specific_messages(ex, answer, phrase):
    result = ex.check(answer)
    assert result.status == "incorrect" and phrase in result.message


def _mse_variant(transform):
    reference = gd.mse_gradient.reference_answer()
    return lambda w, X, y: transform(reference(w, X, y), X.shape[0])


@pytest.mark.parametrize(
    "answer, phrase",
    [
        (_mse_variant(lambda g, n: n * g), "n times too large"),
        (_mse_variant(lambda g, n: 2 * g), "twice too large"),
        (_mse_variant(lambda g, n: -g), "wrong sign"),
        (_mse_variant(lambda g, n: g[:, None]), "wrong shape: expected (3,), got (3, 1)"),
        (_mse_variant(lambda g, n: g[:-1]), "expected (3,), got (2,)"),
        (_mse_variant(lambda g, n: g + 1e-3), "differs from the expected values by up to 0.001"),
        (_mse_variant(lambda g, n: None), "wrong shape: expected (3,), got ()"),
    ],
)
def test_mse_gradient_mistakes(answer, phrase):
    result = gd.mse_gradient.check(answer)
    assert result.status == "incorrect", result
    assert phrase in result.message


def _gd_variant(kind):
    def gradient_descent(grad, x0, lr, num_steps):
        x = x0 if kind == "in-place" else np.array(x0, dtype=float)
        path = [] if kind == "no-x0" else [x.copy()]
        for _ in range(num_steps):
            if kind == "in-place":
                x -= lr * grad(x)
            else:
                x = x + lr * grad(x) if kind == "ascent" else x - lr * grad(x)
            path.append(x.copy())
        return np.array(path)

    return gradient_descent


@pytest.mark.parametrize(
    "kind, phrase",
    [
        ("no-x0", "the path should hold x0 too, so 11 rows"),
        ("in-place", "changed `x0` in place"),
        ("ascent", "is not right yet"),
    ],
)
def test_implement_mistakes(kind, phrase):
    result = gd.implement.check(_gd_variant(kind))
    assert result.status == "incorrect", result
    assert phrase in result.message


def test_chapter_exercise_errors_and_timeouts(monkeypatch):
    result = gd.mse_gradient.check(lambda w, X, y: w["key"])
    assert result.status == "error" and "IndexError" in result.message
    monkeypatch.setattr(gd.implement, "time_limit", 0.3)
    start = time.perf_counter()
    result = gd.implement.check(lambda grad, x0, lr, n: _spin(x0))
    assert result.status == "timeout" and time.perf_counter() - start < 3.0


@pytest.mark.parametrize(
    "ex, phrase",
    [(gd.stability, "lr_max = 2 / max(curvatures)"), (gd.rate, "rate = (kappa - 1) / (kappa + 1)"),
     (gd.implement, "x = x - lr * grad(x)"), (gd.mse_gradient, "return X.T @ (X @ w - y) / n")],
)
def test_chapter_solutions_show_the_reference_code(ex, phrase, capsys):
    source = ex.solution()
    assert phrase in source and phrase in capsys.readouterr().out
    assert ex.hint().startswith(f"Hint ({ex.label}): ")


def _wrong_answers(answer):
    """Deliberately wrong answers built from the reference one: each must fail its check."""
    if isinstance(answer, (int, float)) and not isinstance(answer, bool):
        return [answer * 1.01, answer + 0.1, -answer]
    if callable(answer):
        def zeros(*args, **kwargs):
            return np.zeros_like(np.asarray(answer(*args, **kwargs), dtype=float))

        def slightly_off(*args, **kwargs):
            return np.asarray(answer(*args, **kwargs), dtype=float) * (1 + 1e-3)

        return [zeros, slightly_off]
    pytest.fail(f"no wrong answers for a reference of type {type(answer).__name__}; add some here")


@pytest.mark.parametrize("label", sorted(all_exercises()))
def test_every_exercise_accepts_its_reference_and_rejects_wrong_answers(label, monkeypatch):
    ex = all_exercises()[label]
    monkeypatch.setenv("DLOPT_LAB_STRICT", "1")  # as in the book's build
    reference = ex.reference_answer()
    result = ex.check(reference)
    assert result.status == "correct", result
    monkeypatch.delenv("DLOPT_LAB_STRICT")
    for wrong in _wrong_answers(reference):
        result = ex.check(wrong)
        # rejected, either as a wrong answer or as one that fails when the check runs it
        assert result.status in ("incorrect", "error"), (wrong, result)


def test_reference_answers_agree_with_independent_computations():
    """The checkers compare with the references, so the references are checked here on their own."""
    from dlopt_lab.landscapes import quadratic, rosenbrock
    from dlopt_lab.optim.functional import sgd
    from dlopt_lab.trajectories import run

    # stability: curvatures 4 and 0.25; GD converges just below lr_max and diverges just above
    lr_max = gd.stability.reference_answer()
    land = quadratic(kappa=16, L=4.0)
    assert not run(land, sgd(lr=0.99 * lr_max), x0=(1.0, 1.0), num_steps=3000).diverged
    assert run(land, sgd(lr=1.01 * lr_max), x0=(1.0, 1.0), num_steps=3000).diverged
    # rate: with lr = 2 / (L + mu) on kappa = 25, both eigen-directions shrink by `rate` per step
    rate = gd.rate.reference_answer()
    land = quadratic(kappa=25, L=1.0)
    path = run(land, sgd(lr=2 / (1 + 1 / 25)), x0=(1.0, 1.0), num_steps=5).path
    np.testing.assert_allclose(np.abs(path[1:] / path[:-1]), rate, rtol=1e-12)
    # implement: the reference equals run() with plain SGD on a non-quadratic landscape
    gradient_descent = gd.implement.reference_answer()
    land = rosenbrock()
    expected = run(land, sgd(lr=1e-3), x0=(-1.0, 1.5), num_steps=30).path
    np.testing.assert_allclose(gradient_descent(land.gradient, [-1.0, 1.5], 1e-3, 30), expected,
                               rtol=1e-14, atol=1e-15)
    # mse: the reference equals torch autograd of ||Xw - y||^2 / (2n)
    rng = np.random.default_rng(0)
    X, y, w = rng.standard_normal((7, 3)), rng.standard_normal(7), rng.standard_normal(3)
    wt = torch.tensor(w, requires_grad=True)
    (((torch.tensor(X) @ wt - torch.tensor(y)) ** 2).sum() / 14).backward()
    np.testing.assert_allclose(gd.mse_gradient.reference_answer()(w, X, y), wt.grad.numpy(),
                               rtol=1e-12)
