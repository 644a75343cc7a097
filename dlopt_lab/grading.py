"""Grade a folder of otter-grader submissions on this machine: no Docker, no internet.

The assignments in ``assignments/`` are otter-grader master notebooks. ``otter assign`` turns
each into a student notebook and an *autograder zip* (the tests, hidden ones included). This
module grades the notebooks students hand back with ``otter run``, one submission at a time, each
in its own process group and temporary folder, under a time limit, and writes one CSV row per
student:

.. code-block:: bash

    python -m dlopt_lab.grading AUTOGRADER.zip SUBMISSIONS_DIR -o grades.csv --timeout 300 --jobs 2

.. code-block:: python

    from dlopt_lab.grading import grade_submissions, write_csv

    grades = grade_submissions("quantization-autograder.zip", "submissions/", timeout=300, jobs=2)
    write_csv(grades, "grades.csv")

A submission is a notebook (``.ipynb``) or the zip that ``grader.export()`` writes; the student's
name is the file name without its suffix. The CSV has the columns ``student``, one per question
(points earned, in the assignment's order), ``total``, ``possible``, ``percent``, ``status``
(``ok``, ``crash`` or ``timeout``) and ``reason`` (empty when ``ok``).

Student code runs, unsandboxed, with the rights of whoever runs the grader: this is for honest,
low-stakes coursework. ``otter grade`` runs each submission in a Docker container instead, which
isolates better but needs Docker and, to build the image, the internet.

Importing this module imports neither otter nor torch; otter-grader is needed to grade
(``pip install "dlopt-lab[assignments]"``).
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
import zipfile
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "STATUSES",
    "Question",
    "SubmissionGrade",
    "grade_submissions",
    "main",
    "read_questions",
    "write_csv",
]

#: The possible values of :attr:`SubmissionGrade.status`.
STATUSES = ("ok", "crash", "timeout")

_INSTALL_HINT = 'otter-grader is not installed; install it with: pip install "dlopt-lab[assignments]"'
# Every process of one grading run inherits this variable (with a fresh value per run), so that
# the processes a run leaves behind can be found and stopped, even those that left its group.
_MARKER = "DLOPT_LAB_GRADING_RUN"
_SUFFIXES = (".ipynb", ".zip")


@dataclass(frozen=True)
class Question:
    """One question of an assignment: its name (``q1``, ...) and the points it is worth."""

    name: str
    points: float


@dataclass(frozen=True)
class SubmissionGrade:
    """The grade of one submission.

    ``scores`` maps each question's name to the points earned; it is empty unless ``status``
    is ``"ok"``. ``status`` is one of :data:`STATUSES`: ``"ok"`` (otter graded it),
    ``"crash"`` (otter ran but gave no usable result: the kernel died, the file is not a
    notebook, ...; ``reason`` says what happened) or ``"timeout"`` (stopped at the time limit).
    ``seconds`` is the wall-clock time of the ``otter run`` process.
    """

    student: str
    path: Path
    questions: tuple[Question, ...]
    status: str
    scores: dict[str, float] = field(default_factory=dict)
    reason: str = ""
    seconds: float = 0.0

    @property
    def total(self) -> float:
        """Points earned, over all questions (0 unless ``status`` is ``"ok"``)."""
        return float(sum(self.scores.values()))

    @property
    def possible(self) -> float:
        """The points possible, the sum of the questions' points."""
        return float(sum(q.points for q in self.questions))

    @property
    def percent(self) -> float:
        """``100 * total / possible`` (0 when nothing is possible)."""
        return 100.0 * self.total / self.possible if self.possible else 0.0


# --------------------------------------------------------------------------------------------
# Checks at the boundary
# --------------------------------------------------------------------------------------------


def _check_timeout(timeout: object) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout) \
            or timeout <= 0:
        raise ValueError(f"timeout must be a finite number of seconds > 0, got {timeout!r}")
    return float(timeout)


def _check_jobs(jobs: object) -> int:
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be an integer >= 1, got {jobs!r}")
    return jobs


def _check_zip(autograder_zip: object) -> Path:
    path = Path(autograder_zip)  # type: ignore[arg-type]
    if not path.is_file():
        raise ValueError(f"autograder_zip: {str(path)!r} does not exist or is not a file")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"autograder_zip: {str(path)!r} is not a zip file")
    return path.resolve()


def _check_submissions(submissions: object) -> list[Path]:
    if isinstance(submissions, (str, os.PathLike)):
        folder = Path(submissions)
        if not folder.is_dir():
            raise ValueError(f"submissions: {str(folder)!r} does not exist or is not a folder")
        paths = sorted(p for p in folder.iterdir()
                       if p.is_file() and p.suffix in _SUFFIXES and not p.name.startswith("."))
        if not paths:
            raise ValueError(f"submissions: no .ipynb or .zip files in {str(folder)!r}")
    elif isinstance(submissions, Iterable):
        paths = [Path(p) for p in submissions]
        if not paths:
            raise ValueError("submissions: the list of files is empty")
        for p in paths:
            if not p.is_file() or p.suffix not in _SUFFIXES:
                raise ValueError(f"submissions: {str(p)!r} is not an existing .ipynb or .zip file")
    else:
        raise ValueError(f"submissions must be a folder or a list of files, got {submissions!r}")
    stems: dict[str, Path] = {}
    for p in paths:
        if p.stem in stems:
            raise ValueError(f"submissions: {stems[p.stem].name!r} and {p.name!r} are both "
                             f"named {p.stem!r}; one file per student")
        stems[p.stem] = p
    return [p.resolve() for p in paths]


def _require_otter() -> None:
    try:
        found = importlib.util.find_spec("otter") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise ModuleNotFoundError(_INSTALL_HINT, name="otter")


# --------------------------------------------------------------------------------------------
# The assignment: questions and points, from the autograder zip
# --------------------------------------------------------------------------------------------


def _natural_key(name: str) -> list[object]:
    """``q2`` before ``q10``: digits compare as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def read_questions(autograder_zip: str | os.PathLike[str]) -> tuple[Question, ...]:
    """The questions of an assignment and their points, read from its autograder zip.

    The zip holds one test file per question (``tests/q1.py``, ...); otter's own parser reads
    each, so the points are resolved exactly as ``otter run`` resolves them. The questions come
    in natural order of their names (``q2`` before ``q10``), which is the assignment's order when
    questions are numbered, as ours are.
    """
    path = _check_zip(autograder_zip)
    _require_otter()
    with warnings.catch_warnings():  # otter's dependencies warn about their own deprecations
        warnings.simplefilter("ignore", DeprecationWarning)
        from otter.test_files import create_test_file

    questions = []
    with zipfile.ZipFile(path) as zf, tempfile.TemporaryDirectory(prefix="dlopt-tests-") as tmp, \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        names = [n for n in zf.namelist()
                 if re.fullmatch(r"tests/[^/]+\.py", n) and not n.endswith("__init__.py")]
        for name in names:
            target = Path(tmp) / Path(name).name
            target.write_bytes(zf.read(name))
            test_file = create_test_file(str(target), None)
            questions.append(Question(str(test_file.name), float(test_file.possible)))
    if not questions:
        raise ValueError(f"autograder_zip: {str(path)!r} holds no tests/*.py; is it an otter "
                         f"autograder zip?")
    return tuple(sorted(questions, key=lambda q: _natural_key(q.name)))


# --------------------------------------------------------------------------------------------
# Processes: find and stop everything a grading run started
# --------------------------------------------------------------------------------------------


def _linux_processes() -> Iterable[tuple[int, int]]:
    """``(pid, parent pid)`` of every process, from ``/proc`` (Linux)."""
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2:].split()  # after "pid (command) "
            yield int(entry.name), int(fields[1])


def _descendants(pid: int) -> set[int]:
    """The children of ``pid``, their children, and so on (Linux; elsewhere psutil, if present)."""
    if os.path.isdir("/proc"):
        children: dict[int, list[int]] = {}
        for child, parent in _linux_processes():
            children.setdefault(parent, []).append(child)
        found, todo = set(), [pid]
        while todo:
            for child in children.get(todo.pop(), []):
                if child not in found:
                    found.add(child)
                    todo.append(child)
        return found
    try:
        import psutil  # a dependency of ipykernel, so usually there where otter is

        return {p.pid for p in psutil.Process(pid).children(recursive=True)}
    except Exception:  # no psutil, or the process is gone
        return set()


def _marked(token: str) -> set[int]:
    """Processes whose environment carries this run's marker (Linux only)."""
    if not os.path.isdir("/proc"):
        return set()
    needle = f"{_MARKER}={token}".encode()
    found = set()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                environ = Path(entry.path, "environ").read_bytes()
            except OSError:
                continue
            if needle in environ.split(b"\0"):
                found.add(int(entry.name))
    return found


def _stop_everything(proc: subprocess.Popen[bytes], token: str) -> None:
    """Kill ``otter run`` and every process it started, the Jupyter kernel included.

    The kernel does not share otter's process group: jupyter_client starts every kernel in a
    session of its own. So: freeze otter's group (nothing new gets started), collect its
    descendants and every process carrying the run's marker, and kill their process groups and
    themselves with SIGKILL. Our own process group is never signalled.
    """
    own_pid, own_group = os.getpid(), os.getpgrp()
    killpg = getattr(os, "killpg", None)
    if killpg is None:  # not POSIX: no process groups to stop
        proc.kill()
        proc.wait()
        return
    for _ in range(3):  # a process may fork while we look: look again
        if proc.poll() is None:
            try:
                killpg(proc.pid, signal.SIGSTOP)
            except OSError:
                pass
        victims = (_descendants(proc.pid) | _marked(token)) - {own_pid}
        groups = {proc.pid} if proc.poll() is None else set()
        for pid in victims:
            try:
                groups.add(os.getpgid(pid))
            except OSError:
                pass
        for group in groups - {own_group}:
            try:
                killpg(group, signal.SIGKILL)
            except OSError:
                pass
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if not (_marked(token) - {own_pid}):
            break
    # give the kernel a moment to be gone: signals are delivered, not awaited
    deadline = time.monotonic() + 5.0
    while _alive(victims) and time.monotonic() < deadline:
        time.sleep(0.02)


def _alive(pids: Iterable[int]) -> bool:
    """Whether any of ``pids`` still runs (a zombie, waiting to be reaped, does not)."""
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if state[state.rfind(")") + 2:][:1] not in ("Z", "X"):
            return True
    return False


# --------------------------------------------------------------------------------------------
# One submission
# --------------------------------------------------------------------------------------------


def _wait(proc: subprocess.Popen[bytes], deadline: float, cancelled: threading.Event) -> int | None:
    """The exit status of ``proc``, or None at the deadline or when the batch is cancelled."""
    while not cancelled.is_set():
        try:
            return proc.wait(timeout=max(0.0, min(0.2, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            if time.monotonic() >= deadline:
                return None
    return None

_ERROR_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Failure))(?::\s*(.*))?$")


def _error_summary(log: str, limit: int = 200) -> str:
    """The last ``SomeError: message`` line of a log, without the module path; or its last line."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for line in reversed(lines):
        m = _ERROR_LINE.match(line)
        if m:
            name = m.group(1).rsplit(".", 1)[-1]
            text = f"{name}: {m.group(2)}" if m.group(2) else name
            return text[:limit]
    return lines[-1][:limit] if lines else "no output"


def _read_scores(results: Path, questions: Sequence[Question]) -> tuple[dict[str, float], str]:
    """``(scores, "")`` from otter's results.json, or ``({}, reason)`` when it is unusable."""
    try:
        tests = json.loads(results.read_text())["tests"]
        by_name = {t["name"]: float(t["score"]) for t in tests if "score" in t}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return {}, f"otter wrote no readable results ({type(exc).__name__})"
    missing = [q.name for q in questions if q.name not in by_name]
    if missing:
        failed = [t.get("output", "") for t in tests if t.get("name") == "Autograder Exception"]
        detail = f": {_error_summary(failed[0])}" if failed else ""
        return {}, f"otter's results lack {', '.join(missing)}{detail}"
    return {q.name: by_name[q.name] for q in questions}, ""


def _grade_one(
    autograder_zip: Path,
    submission: Path,
    questions: tuple[Question, ...],
    timeout: float,
    env: dict[str, str],
    log_dir: Path | None,
    cancelled: threading.Event,
) -> SubmissionGrade:
    student = submission.stem
    work = Path(tempfile.mkdtemp(prefix="dlopt-grade-"))
    try:
        out, tmp, runtime, ipython = (work / d for d in ("out", "tmp", "runtime", "ipython"))
        for d in (out, tmp, runtime, ipython):
            d.mkdir()
        token = uuid.uuid4().hex
        run_env = dict(env, TMPDIR=str(tmp), JUPYTER_RUNTIME_DIR=str(runtime), IPYTHONDIR=str(ipython),
                       **{_MARKER: token})
        cmd = [sys.executable, "-m", "otter", "run", "--no-logo", "-a", str(autograder_zip),
               "-o", str(out), str(submission)]
        log_path = work / "otter.log"
        start = time.monotonic()
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(cmd, cwd=work, env=run_env, stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                returncode = _wait(proc, start + timeout, cancelled)
            finally:
                # also after a normal exit: a student's background process must not outlive the run
                _stop_everything(proc, token)
        if cancelled.is_set():
            raise KeyboardInterrupt
        seconds = time.monotonic() - start
        log_text = log_path.read_text(errors="replace")
        if log_dir is not None:
            shutil.copyfile(log_path, log_dir / f"{student}.log")

        def grade(status: str, scores: dict[str, float] | None = None, reason: str = "") -> SubmissionGrade:
            return SubmissionGrade(student, submission, questions, status, scores or {}, reason, seconds)

        if returncode is None:
            return grade("timeout", reason=f"no result within {timeout:g} s; stopped")
        if returncode != 0:
            how = f"status {returncode}" if returncode > 0 else f"signal {-returncode}"
            return grade("crash", reason=f"otter exited with {how}: {_error_summary(log_text)}")
        scores, reason = _read_scores(out / "results.json", questions)
        return grade("ok", scores) if not reason else grade("crash", reason=reason)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# The batch
# --------------------------------------------------------------------------------------------


def grade_submissions(
    autograder_zip: str | os.PathLike[str],
    submissions: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    timeout: float = 300.0,
    jobs: int = 1,
    log_dir: str | os.PathLike[str] | None = None,
    on_result: Callable[[SubmissionGrade], None] | None = None,
) -> list[SubmissionGrade]:
    """Grade every submission with ``otter run``; one :class:`SubmissionGrade` per submission.

    Args:
        autograder_zip: the zip that ``otter assign`` wrote to ``autograder/``.
        submissions: a folder (its ``.ipynb`` and ``.zip`` files are the submissions, one per
            student, named after the student) or a list of such files.
        timeout: seconds one submission may take, the Jupyter kernel's start included.
        jobs: how many submissions to grade at once (each runs its own kernel; more jobs than
            CPU cores only adds contention).
        log_dir: a folder to keep otter's output for each submission (``<student>.log``); by
            default it is discarded.
        on_result: called with each grade as soon as it is known (in completion order).

    Returns:
        the grades, in the order of the submissions (by file name for a folder).

    Raises:
        ValueError: ``timeout <= 0``, ``jobs < 1``, a missing or invalid ``autograder_zip``, a
            missing or empty ``submissions`` folder, or two files with one student name.
        ModuleNotFoundError: otter-grader is not installed.

    How a submission is run. ``sys.executable -m otter run`` grades it in a temporary folder of
    its own, in a new process group (``start_new_session``), with ``TMPDIR``, the Jupyter runtime
    folder and ``IPYTHONDIR`` inside that folder, which is deleted afterwards: no student's code
    lands in your IPython history, and no file in your temporary folder. Unless they are set
    already, ``OMP_NUM_THREADS`` (CPU cores / ``jobs``) and ``OMP_WAIT_POLICY=passive`` keep
    parallel kernels from fighting over the cores. otter executes the notebook top to bottom in
    a fresh kernel, runs each question's tests, public and hidden, where its ``grader.check``
    cell stands, and the remaining ones at the end.

    What otter does with misbehaving notebooks (otter-grader 7.0; ``tests/test_assignments.py``
    checks each case but ``exit()`` and ``KeyboardInterrupt``, which we tried by hand):

    * A cell that raises (``sys.exit()``, ``exit()`` and ``KeyboardInterrupt`` included) does
      not stop the grading: otter runs the notebook with errors allowed, so execution goes on
      with the next cell, and the tests of the question see whatever the failed cell left
      behind. The submission is ``ok``, with the points its tests earn.
    * If the kernel dies (``os._exit(1)`` in a cell, a segmentation fault, the out-of-memory
      killer), otter stops with ``DeadKernelError`` and writes no results at all, not even for
      the questions graded before. We record ``crash`` with the reason, and no points.
    * A file that is not a notebook, or a notebook of another assignment, is a ``crash`` too.
    * otter itself has no time limit (nbclient's cell timeout is off by default): a notebook
      that loops forever would hang the batch. At ``timeout`` seconds we stop the ``otter run``
      process group *and* the kernel, together with every process they started, found through
      their parents and, on Linux, through a marker in their environment. jupyter_client starts
      the kernel in a session of its own, so killing otter's group does not reach it; ipykernel
      ends a kernel whose parent died, but from a thread that a loop holding the GIL (such as
      ``sum(itertools.repeat(0))``) never lets run. We record ``timeout``, and the batch goes on.
      The same sweep runs after every submission, so no process a student's code started
      outlives its grading.
    """
    timeout = _check_timeout(timeout)
    jobs = _check_jobs(jobs)
    zip_path = _check_zip(autograder_zip)
    paths = _check_submissions(submissions)
    logs = None
    if log_dir is not None:
        logs = Path(log_dir)
        logs.mkdir(parents=True, exist_ok=True)
    _require_otter()
    questions = read_questions(zip_path)

    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // jobs)))
    env.setdefault("OMP_WAIT_POLICY", "passive")
    env.pop(_MARKER, None)

    cancelled = threading.Event()

    def run(path: Path) -> SubmissionGrade:
        result = _grade_one(zip_path, path, questions, timeout, env, logs, cancelled)
        if on_result is not None:
            on_result(result)
        return result

    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        return list(pool.map(run, paths))
    except BaseException:  # Ctrl-C: stop the runs under way (their processes are in sessions of
        cancelled.set()  # their own, so the terminal's signal does not reach them) and start no more
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# --------------------------------------------------------------------------------------------
# The CSV
# --------------------------------------------------------------------------------------------


def _number(x: float, decimals: int = 4) -> str:
    """``3`` for 3.0, ``1.5`` for 1.5: points as a person would write them."""
    text = f"{round(x, decimals):.{decimals}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def write_csv(grades: Sequence[SubmissionGrade], path: str | os.PathLike[str]) -> Path:
    """Write one row per student: points per question, total, possible, percent, status, reason.

    The question columns come in the assignment's order and hold the points earned, empty for
    a submission that was not graded (``crash`` or ``timeout``; its total is 0). Numbers are
    written plainly (``3``, ``1.5``); percent is rounded to 2 decimals. Returns the path.
    """
    if not grades:
        raise ValueError("grades is empty: nothing to write")
    questions = grades[0].questions
    if any(g.questions != questions for g in grades):
        raise ValueError("grades must all come from one assignment (the same questions)")
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["student", *(q.name for q in questions), "total", "possible", "percent",
                         "status", "reason"])
        for g in grades:
            points = [_number(g.scores[q.name]) if q.name in g.scores else "" for q in questions]
            writer.writerow([g.student, *points, _number(g.total), _number(g.possible),
                             _number(g.percent, 2), g.status, g.reason])
    return path


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m dlopt_lab.grading AUTOGRADER.zip SUBMISSIONS_DIR -o grades.csv ...``."""
    parser = argparse.ArgumentParser(
        prog="python -m dlopt_lab.grading",
        description="Grade otter-grader submissions locally (no Docker, no internet) and write a CSV.",
    )
    parser.add_argument("autograder_zip", help="the autograder zip written by otter assign")
    parser.add_argument("submissions", help="a folder of submissions (.ipynb or .zip), one per student")
    parser.add_argument("-o", "--output", default="grades.csv", help="the CSV to write (grades.csv)")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds one submission may take (300)")
    parser.add_argument("--jobs", type=int, default=1, help="submissions graded at once (1)")
    parser.add_argument("--logs", default=None, help="a folder to keep otter's output per student")
    args = parser.parse_args(argv)

    def report(g: SubmissionGrade) -> None:
        detail = f" ({g.reason})" if g.reason else ""
        print(f"{g.student}: {_number(g.total)}/{_number(g.possible)} {g.status} "
              f"in {g.seconds:.1f} s{detail}", file=sys.stderr, flush=True)

    try:
        grades = grade_submissions(args.autograder_zip, args.submissions, timeout=args.timeout,
                                   jobs=args.jobs, log_dir=args.logs, on_result=report)
    except (ValueError, ModuleNotFoundError) as exc:
        parser.exit(2, f"error: {exc}\n")
    out = write_csv(grades, args.output)
    counts = {s: sum(g.status == s for g in grades) for s in STATUSES}
    print(f"graded {len(grades)} submissions ({', '.join(f'{n} {s}' for s, n in counts.items())}); "
          f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
