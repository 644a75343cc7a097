"""The classroom assignments: otter-grader master notebooks, what ``otter assign`` makes of them,
and the batch grader ``dlopt_lab.grading``.

The tests marked ``assignments`` run otter-grader for real (``make test`` installs it with the
``assignments`` extra): ``otter assign`` for every master, then ``otter run`` through the batch
grader: for every assignment, one batch of the blank student notebook (0 points), a partly right
submission (the points worked out for it, question by question) and the solution (full marks);
for optimizers-by-hand also canned submissions (a cell that raises, a kernel that dies, a file
that is not a notebook, a notebook of another assignment, a zip written by ``grader.export()``, a
notebook that loops forever). Each batch is compared with its expected CSV, byte for byte. About
three minutes on two cores; each grading run takes 1 to 20 s.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from dlopt_lab import grading
from dlopt_lab.grading import Question, SubmissionGrade, grade_submissions, write_csv

ROOT = Path(__file__).resolve().parents[1]
MASTERS = sorted((ROOT / "assignments").glob("*.ipynb"))
NAMES = [p.stem for p in MASTERS]
REPO_URL = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
CANNED = "optimizers-by-hand"  # the assignment the canned submissions are written for
HEADER = "student,{questions},total,possible,percent,status,reason"


def test_the_five_assignments_are_there():
    assert NAMES == ["deployment", "optimizers-by-hand", "quantization", "regularization",
                     "training-study"]


# --------------------------------------------------------------------------------------------
# The masters, as stored (fast: no otter)
# --------------------------------------------------------------------------------------------


@dataclass
class MasterQuestion:
    name: str
    points: float
    tests: list[tuple[float, bool, str]]  # (points, hidden, source)
    solution_lines: list[str]


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def _test_config(source: str) -> dict:
    m = re.match(r'""" # BEGIN TEST CONFIG\n(.*?)""" # END TEST CONFIG\n', source, re.S)
    assert m, f"a test cell without a TEST CONFIG block:\n{source[:200]}"
    return yaml.safe_load(m.group(1))


def _solution_lines(source: str) -> list[str]:
    """The lines that otter assign removes from a solution cell."""
    lines, inside = [], False
    for line in source.splitlines():
        if re.match(r"\s*# BEGIN SOLUTION", line):
            inside = True
        elif re.match(r"\s*# END SOLUTION", line):
            inside = False
        elif inside:
            lines.append(line.strip())
        elif re.search(r"# SOLUTION\s*$", line):
            lines.append(re.sub(r"\s*# SOLUTION\s*$", "", line).strip())
    return [line for line in lines if line]


def _parse_master(path: Path) -> tuple[dict, dict, list[MasterQuestion]]:
    """(notebook, assignment config, questions) of a master notebook in otter's v1 format."""
    nb = json.loads(path.read_text())
    cells = nb["cells"]
    assert cells[0]["cell_type"] == "raw" and _source(cells[0]).startswith("# ASSIGNMENT CONFIG")
    config = yaml.safe_load(_source(cells[0]))
    questions: list[MasterQuestion] = []
    block = None
    for cell in cells[1:]:
        src = _source(cell)
        if cell["cell_type"] == "raw":
            first = src.splitlines()[0].strip()
            if first == "# BEGIN QUESTION":
                q = yaml.safe_load(src)
                questions.append(MasterQuestion(q["name"], q["points"], [], []))
            elif first in ("# BEGIN SOLUTION", "# BEGIN TESTS"):
                block = first.split()[-1]
            elif first in ("# END SOLUTION", "# END TESTS", "# END QUESTION"):
                block = None
            continue
        if block == "TESTS":
            conf = _test_config(src)
            questions[-1].tests.append((conf["points"], bool(conf.get("hidden", False)), src))
        elif block == "SOLUTION":
            questions[-1].solution_lines += _solution_lines(src)
    return nb, config, questions


@pytest.mark.parametrize("path", MASTERS, ids=NAMES)
def test_master_is_otter_v1_with_exception_based_tests(path):
    nb, config, questions = _parse_master(path)
    assert config["name"] == path.stem
    assert config["tests"]["ok_format"] is False, "exception-based tests: masters carry no outputs"
    assert config["export_cell"]["pdf"] is False, "students need no LaTeX to hand in"
    assert config["generate"] is True
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, "stored without outputs"
    assert [q.name for q in questions] == [f"q{i}" for i in range(1, len(questions) + 1)]
    for q in questions:
        assert q.points == sum(p for p, _, _ in q.tests), f"{q.name}: points must be the tests' sum"
        assert any(not hidden for _, hidden, _ in q.tests), f"{q.name}: no public test"
        assert any(hidden for _, hidden, _ in q.tests), f"{q.name}: no hidden test"
        assert all(p > 0 for p, _, _ in q.tests), f"{q.name}: a test worth no points"
        names = [re.search(r"^def (\w+)\(", src, re.M).group(1) for _, _, src in q.tests]
        assert len(set(names)) == len(names), f"{q.name}: two test functions share a name"
        assert q.solution_lines, f"{q.name}: no solution"
    setup = next(c for c in nb["cells"] if c["cell_type"] == "code")
    src = _source(setup)
    assert "setup" in setup["metadata"].get("tags", [])
    assert f'REPO = "{REPO_URL}"' in src and 'find_spec("dlopt_lab") is None' in src
    assert "set_seed(" in src and f'grader = otter.Notebook("{path.stem}.ipynb")' in src


# --------------------------------------------------------------------------------------------
# otter assign
# --------------------------------------------------------------------------------------------


@dataclass
class Assigned:
    student: Path  # the notebook handed out
    solution: Path  # otter's autograder notebook: the master with its solutions
    zip: Path  # the autograder zip


def _otter_assign(master: Path, out: Path) -> Assigned:
    # --no-run-tests: the solution is graded below anyway (make assignments runs them)
    subprocess.run([sys.executable, "-m", "otter", "assign", "--no-run-tests", str(master), str(out)],
                   check=True, capture_output=True, timeout=300)
    zips = list((out / "autograder").glob("*-autograder_*.zip"))
    assert len(zips) == 1
    return Assigned(out / "student" / master.name, out / "autograder" / master.name, zips[0])


@pytest.fixture(scope="module")
def assigned(tmp_path_factory) -> dict[str, Assigned]:
    root = tmp_path_factory.mktemp("assigned")
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = pool.map(lambda m: _otter_assign(m, root / m.stem), MASTERS)
        return dict(zip(NAMES, done))


def _student_texts(nb_path: Path) -> list[str]:
    """Every text a student receives: cell sources and the tests stored in the metadata."""
    nb = json.loads(nb_path.read_text())
    texts = [_source(c) for c in nb["cells"]]
    texts += list(nb["metadata"].get("otter", {}).get("tests", {}).values())
    return texts


def _contains(texts: list[str], needle: str) -> bool:
    return any(needle in t for t in texts)


@pytest.mark.assignments
@pytest.mark.parametrize("name", NAMES)
def test_student_notebook_has_no_solution_and_no_hidden_test(assigned, name):
    nb, _, questions = _parse_master(ROOT / "assignments" / f"{name}.ipynb")
    out = assigned[name]
    student = _student_texts(out.student)
    solution = _student_texts(out.solution)
    with zipfile.ZipFile(out.zip) as zf:
        ag_tests = [zf.read(n).decode() for n in zf.namelist() if n.startswith("tests/")]

    # the text a student may see anyway: prompts, given code, public tests
    hidden_sources = [src for q in questions for _, hidden, src in q.tests if hidden]
    solution_cells = set()
    block = None
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "raw":
            first = _source(cell).splitlines()[0].strip()
            block = "SOLUTION" if first == "# BEGIN SOLUTION" else (None if first.startswith("# END") else block)
        elif block == "SOLUTION":
            solution_cells.add(i)
    visible = [_source(c) for i, c in enumerate(nb["cells"])
               if i not in solution_cells and _source(c) not in hidden_sources]

    secret = [line for q in questions for line in q.solution_lines
              if len(line) >= 10 and not _contains(visible, line)]
    assert len(secret) >= 3, "too few solution lines to check"
    for line in secret:
        assert _contains(solution, line), f"the search is broken: {line!r} not in the solution"
        assert not _contains(student, line), f"the student notebook shows a solution line: {line!r}"

    for q in questions:
        for _, hidden, src in q.tests:
            test_name = re.search(r"^def (\w+)\(", src, re.M).group(1)
            assert _contains(ag_tests, f"def {test_name}("), f"{test_name} is not in the autograder"
            assert _contains(student, f"def {test_name}(") is not hidden, \
                f"{test_name}: hidden tests must be absent from the student notebook, public ones present"
            body = [ln.strip() for ln in src.splitlines() if "assert" in ln]
            if hidden:
                assert not any(_contains(student, ln) for ln in body), f"{test_name}: a hidden assertion shows"
    assert _contains(ag_tests, "hidden=True") and not _contains(student, "hidden=True")
    assert not _contains(student, "# BEGIN SOLUTION") and not _contains(student, "# END SOLUTION")


# --------------------------------------------------------------------------------------------
# Grading with the batch grader
# --------------------------------------------------------------------------------------------


def _questions_of(name: str) -> list[MasterQuestion]:
    return _parse_master(ROOT / "assignments" / f"{name}.ipynb")[2]


def _header(questions) -> str:
    return HEADER.format(questions=",".join(q.name for q in questions))


def _csv_text(grades, tmp_path) -> str:
    return write_csv(grades, tmp_path / "grades.csv").read_text()


def _report(grades) -> str:
    return "; ".join(f"{g.student} {g.status} {g.seconds:.1f} s" for g in grades)


PARTIAL_ANSWERS = [  # optimizers-by-hand: q1 right; q2 with eps inside the root; q3 coupled decay
    '''
def sgd_momentum_step(theta, g, b, lr, momentum):
    new_b = g.clone() if b is None else momentum * b + g
    return theta - lr * new_b, new_b
''',
    '''
def adam_step(theta, g, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    return theta - lr * m_hat / (v_hat + eps).sqrt(), m, v
''',
    '''
def adamw_step(theta, g, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2):
    return adam_step(theta, g + weight_decay * theta, m, v, t, lr, beta1, beta2, eps)
''',
]


def _answered(student: Path, answers: list[str | None]) -> dict:
    """The student notebook with its answer cells (in order) replaced where an answer is given."""
    nb = json.loads(student.read_text())
    cells = [c for c in nb["cells"] if "otter_answer_cell" in c["metadata"].get("tags", [])]
    assert len(cells) == len(answers)
    for cell, answer in zip(cells, answers):
        if answer is not None:
            cell["source"] = answer.strip("\n")
    return nb


def _solution_answer(solution: Path, index: int) -> str:
    """The source of the index-th solution cell of otter's autograder notebook."""
    nb = json.loads(solution.read_text())
    cells = [c for c in nb["cells"] if "otter_assign_solution_cell" in c["metadata"].get("tags", [])]
    return _source(cells[index])


def _write_nb(nb: dict, path: Path) -> Path:
    path.write_text(json.dumps(nb, indent=1))
    return path


SOLVED = "<the solution's own answer cell>"  # in a list of answers: that question answered right

# A partly right submission for every assignment but CANNED (whose own is PARTIAL_ANSWERS),
# written as a student might hand it in: a mistake the book warns about that the public tests let
# through and a hidden test catches, a question answered wrong, and one (or two) right. For each:
# the answer cells in order (each replaces a whole cell of the student notebook), and the CSV
# expected of the batch blank, partial, solution, its points reasoned from the tests (see each
# entry) and confirmed by a real run.
PARTIAL_SUBMISSIONS: dict[str, tuple[list[str], str]] = {
    # q1 right. q2 a static batch: exported without dynamic_shapes, the ONNX file takes batch 1
    # only, which is the public test's batch (1 point); ONNX Runtime refuses the hidden test's 37
    # and 360 (2 points lost). q3 a dtype mismatch and no checks: np.asarray makes float64, the
    # float32 model raises RuntimeError on good and bad inputs alike, and a ragged list raises
    # NumPy's ValueError, whose message does not name `inputs`: every test fails.
    "deployment": ([
        '''
def save_weights(model, path):
    save_file(model.state_dict(), path)


def load_weights(path):
    fresh = make_model()
    fresh.load_state_dict(load_file(path))
    fresh.eval()
    return fresh


weights_path = os.path.join(WORKDIR, "digits.safetensors")
save_weights(model, weights_path)
restored = load_weights(weights_path)
''',
        '''
def export_onnx(model, path):
    torch.onnx.export(model, (torch.zeros(1, 64),), dynamo=True).save(path)


onnx_path = os.path.join(WORKDIR, "digits.onnx")
export_onnx(model, onnx_path)
''',
        '''
def predict(model, inputs, max_batch=256):
    x = torch.from_numpy(np.asarray(inputs))
    with torch.inference_mode():
        return model(x).argmax(dim=1).tolist()
''',
    ], """\
student,q1,q2,q3,total,possible,percent,status,reason
blank,0,0,0,0,10,0,ok,
partial,3,1,0,4,10,40,ok,
solution,3,3,4,10,10,100,ok,
"""),
    # q1 right. q2 truncates instead of rounding (the cast to int64 drops the fraction): the public
    # example and the exact zero come out right (2 points), but the levels differ from torch's
    # fake quantization and the error reaches a whole step, not s/2 (2 points lost). q3 forgets
    # to dequantize, comparing W with the integer codes: the "errors" exceed s/2, grow with the
    # bits and are not the computed ones, so every test fails.
    "quantization": ([
        '''
def affine_qparams(x_min, x_max, num_bits=8):
    lo, hi = min(x_min, 0.0), max(x_max, 0.0)
    top = 2**num_bits - 1
    scale = (hi - lo) / top
    return scale, int(min(max(round(-lo / scale), 0), top))
''',
        '''
def quantize(x, scale, zero_point, num_bits=8):
    q = (x / scale).to(torch.int64) + zero_point
    return torch.clamp(q, 0, 2**num_bits - 1)


def dequantize(q, scale, zero_point):
    return (scale * (q - zero_point)).float()
''',
        '''
scales, max_error = {}, {}
for b in BITS:
    s, z = affine_qparams(W.min().item(), W.max().item(), b)
    scales[b] = s
    max_error[b] = (W - quantize(W, s, z, b)).abs().max().item()
''',
    ], """\
student,q1,q2,q3,total,possible,percent,status,reason
blank,0,0,0,0,10,0,ok,
partial,3,2,0,5,10,50,ok,
solution,3,4,3,10,10,100,ok,
"""),
    # q1 standardizes each split with its own statistics, those of the validation split for
    # Z_val: Z_train is right (the public point), Z_val and the small example are not (2 points
    # lost). q2 and q3 right. q4 drops without scaling the survivors by 1 / (1 - p): the public
    # test sees the values {0, 1}, the hidden one a mean of 0.7 instead of 1.
    "regularization": ([
        '''
def standardize(X_train, X_other):
    def zscores(X):
        std = X.std(axis=0)
        return (X - X.mean(axis=0)) / np.where(std > 0, std, 1.0)
    return zscores(X_train), zscores(X_other)


Z_train, Z_val = standardize(X_train, X_val)
''',
        '''
def penalized_loss(model, X, y, lam):
    penalty = sum((p**2).sum() for p in model.parameters())
    return F.cross_entropy(model(X), y) + lam / 2 * penalty
''',
        SOLVED,
        '''
def dropout(x, p, training=True, generator=None):
    if not training:
        return x
    keep = torch.rand(x.shape, generator=generator, dtype=x.dtype) < 1 - p
    return x * keep
''',
    ], """\
student,q1,q2,q3,q4,total,possible,percent,status,reason
blank,0,0,0,0,0,10,0,ok,
partial,1,2,3,0,6,10,60,ok,
solution,3,2,3,2,10,10,100,ok,
"""),
    # q1 seeds with 0 whatever the seed (the setup cell's lab.set_seed(0), copied): reproducible,
    # which is all the public tests ask (2 points), but the hidden test finds seeds 0 and 1 give
    # the same run (1 point lost). q2 right (its three "seeds" are one run, and the facts hold).
    # q3 an off-by-one in the reported epoch: val_loss[NUM_EPOCHS] is one past the last epoch,
    # the cell raises IndexError and q3's variables are never defined.
    "training-study": ([
        '''
def train_once(lr, seed, schedule="constant"):
    lab.set_seed(0)
    model = make_model()
    loaders = lab.digits_loaders(batch_size=64, seed=0, data=data)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    scheduler = None
    if schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=NUM_EPOCHS)
    return lab.fit(model, optimizer, loaders["train"], loaders["val"], num_epochs=NUM_EPOCHS,
                   scheduler=scheduler, progress=False)
''',
        '''
final_val_loss = np.array([[train_once(lr, seed).val_loss[-1] for seed in SEEDS] for lr in LRS])
mean_val_loss = final_val_loss.mean(axis=1)
best_lr = LRS[int(np.argmin(mean_val_loss))]
''',
        '''
LR_SCHEDULE = 0.3

constant_loss = np.array([train_once(LR_SCHEDULE, s).val_loss[NUM_EPOCHS] for s in SEEDS])
cosine_loss = np.array([train_once(LR_SCHEDULE, s, "cosine").val_loss[NUM_EPOCHS] for s in SEEDS])
gain = float(constant_loss.mean() - cosine_loss.mean())
''',
    ], """\
student,q1,q2,q3,total,possible,percent,status,reason
blank,0,0,0,0,10,0,ok,
partial,2,4,0,6,10,60,ok,
solution,3,4,3,10,10,100,ok,
"""),
}


def test_each_partial_submission_is_partly_right():
    """The expected CSVs agree with the masters, and each partial row is partly right."""
    assert sorted(PARTIAL_SUBMISSIONS) == [n for n in NAMES if n != CANNED]
    for name, (_, expected) in PARTIAL_SUBMISSIONS.items():
        questions = _questions_of(name)
        assert expected.splitlines()[0] == _header(questions)
        rows = {r["student"]: r for r in csv.DictReader(io.StringIO(expected))}
        assert list(rows) == ["blank", "partial", "solution"]
        possible = sum(q.points for q in questions)
        for student, row in rows.items():
            points = [float(row[q.name]) for q in questions]
            assert float(row["total"]) == sum(points) and float(row["possible"]) == possible
            assert float(row["percent"]) == round(100 * sum(points) / possible, 2)
            assert row["status"] == "ok" and row["reason"] == ""
            if student == "blank":
                assert points == [0] * len(questions)
            elif student == "solution":
                assert points == [q.points for q in questions]
            else:
                assert 0 in points, f"{name}: a question wrong"
                assert any(p == q.points for p, q in zip(points, questions)), f"{name}: one right"
                assert any(0 < p < q.points for p, q in zip(points, questions)), \
                    f"{name}: a question that passes some tests and fails others"


@pytest.mark.assignments
@pytest.mark.parametrize("name", [n for n in NAMES if n != CANNED])
def test_blank_partial_and_solution(assigned, name, tmp_path):
    """One batch per assignment: the blank notebook scores 0, the partly right submission the
    points worked out for it, question by question, and the solution full marks."""
    out = assigned[name]
    answers, expected = PARTIAL_SUBMISSIONS[name]
    answers = [_solution_answer(out.solution, i) if a is SOLVED else a for i, a in enumerate(answers)]
    subs = tmp_path / "submissions"
    subs.mkdir()
    (subs / "blank.ipynb").write_bytes(out.student.read_bytes())
    _write_nb(_answered(out.student, answers), subs / "partial.ipynb")
    (subs / "solution.ipynb").write_bytes(out.solution.read_bytes())
    start = time.monotonic()
    grades = grade_submissions(out.zip, subs, timeout=300, jobs=2)
    print(name, _report(grades), f"batch {time.monotonic() - start:.1f} s")
    questions = _questions_of(name)
    assert grades[0].questions == tuple(Question(q.name, q.points) for q in questions)
    assert _csv_text(grades, tmp_path) == expected


def _export(notebook: Path, folder: Path) -> Path:
    """Run a notebook as a student would, its export cell (``grader.export()``) included; the zip."""
    import nbclient
    import nbformat

    folder.mkdir()
    target = folder / notebook.name
    target.write_bytes(notebook.read_bytes())
    nb = nbformat.read(target, as_version=4)
    nbclient.NotebookClient(nb, timeout=300, resources={"metadata": {"path": str(folder)}}).execute()
    zips = list(folder.glob(f"{notebook.stem}_*.zip"))
    assert len(zips) == 1, "grader.export() wrote no zip"
    return zips[0]


@pytest.mark.assignments
def test_canned_submissions(assigned, tmp_path, monkeypatch):
    out = assigned[CANNED]
    subs = tmp_path / "submissions"
    subs.mkdir()
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))  # keep the student run's history here
    start = time.monotonic()
    exported = _export(out.solution, tmp_path / "student")
    print(f"{CANNED}: the solution run and exported as a student would in {time.monotonic() - start:.1f} s")
    with zipfile.ZipFile(exported) as zf:
        assert f"{CANNED}.ipynb" in zf.namelist() and ".OTTER_LOG" in zf.namelist()
    (subs / "exported.zip").write_bytes(exported.read_bytes())
    (subs / "blank.ipynb").write_bytes(out.student.read_bytes())
    (subs / "solution.ipynb").write_bytes(out.solution.read_bytes())
    _write_nb(_answered(out.student, PARTIAL_ANSWERS), subs / "partial.ipynb")
    _write_nb(_answered(out.student, ["import os\nos._exit(1)", None, None]), subs / "kernel-dies.ipynb")
    # a cell that raises (here SystemExit) does not stop grading: q2 and q3 still earn their points
    raises = ['import sys\nsys.exit("I give up on q1")', *(_solution_answer(out.solution, i) for i in (1, 2))]
    _write_nb(_answered(out.student, raises), subs / "q1-raises.ipynb")
    (subs / "not-a-notebook.ipynb").write_text("this is not a notebook")
    (subs / "wrong-assignment.ipynb").write_bytes(assigned["quantization"].student.read_bytes())
    (subs / "notes.txt").write_text("not a submission: ignored")

    start = time.monotonic()
    grades = grade_submissions(out.zip, subs, timeout=300, jobs=2)
    print(CANNED, _report(grades), f"batch {time.monotonic() - start:.1f} s")
    assert [g.student for g in grades] == ["blank", "exported", "kernel-dies", "not-a-notebook",
                                            "partial", "q1-raises", "solution", "wrong-assignment"]
    expected = """\
student,q1,q2,q3,total,possible,percent,status,reason
blank,0,0,0,0,10,0,ok,
exported,4,4,2,10,10,100,ok,
kernel-dies,,,,0,10,0,crash,otter exited with status 1: DeadKernelError: Kernel died
not-a-notebook,,,,0,10,0,crash,otter exited with status 1: NotJSONError: Notebook does not appear to be JSON: 'this is not a notebook'
partial,4,1,0,5,10,50,ok,
q1-raises,0,4,2,6,10,60,ok,
solution,4,4,2,10,10,100,ok,
wrong-assignment,,,,0,10,0,crash,otter exited with status 1: OtterRuntimeError: Received submission for assignment 'quantization' (this is assignment 'optimizers-by-hand')
"""
    assert _csv_text(grades, tmp_path) == expected
    assert grades[4].scores == {"q1": 4.0, "q2": 1.0, "q3": 0.0} and grades[4].percent == 50.0


def _dead(pid: int) -> bool:
    """Whether ``pid`` is gone (or a zombie: dead, waiting for its parent to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat[stat.rfind(")") + 2] in "ZX"


@pytest.mark.assignments
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
def test_a_notebook_that_loops_forever_times_out_and_the_batch_goes_on(assigned, tmp_path):
    out = assigned[CANNED]
    subs = tmp_path / "submissions"
    subs.mkdir()
    pids = tmp_path / "pids.txt"
    # The loop runs in C and never releases the GIL, so ipykernel's watcher thread, which ends a
    # kernel whose parent died, never runs: only the grader can stop this kernel. The child
    # process is in the kernel's process group, not in otter's.
    loop = (f"import itertools, os, subprocess\nchild = subprocess.Popen(['sleep', '600'])\n"
            f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
            f"sum(itertools.repeat(0))  # forever")
    _write_nb(_answered(out.student, [loop, None, None]), subs / "loops-forever.ipynb")
    (subs / "then-blank.ipynb").write_bytes(out.student.read_bytes())
    csv_path = tmp_path / "grades.csv"

    start = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "dlopt_lab.grading", str(out.zip), str(subs),
                          "-o", str(csv_path), "--timeout", "20", "--jobs", "1"],
                         capture_output=True, text=True, timeout=300)
    elapsed = time.monotonic() - start
    print(run.stderr, f"batch {elapsed:.1f} s")
    assert run.returncode == 0, run.stderr
    assert csv_path.read_text() == """\
student,q1,q2,q3,total,possible,percent,status,reason
loops-forever,,,,0,10,0,timeout,no result within 20 s; stopped
then-blank,0,0,0,0,10,0,ok,
"""
    progress = [line.split(":")[0] for line in run.stderr.splitlines() if ":" in line]
    assert progress == ["loops-forever", "then-blank"], "one at a time, the loop first"
    assert "graded 2 submissions (1 ok, 0 crash, 1 timeout)" in run.stdout
    kernel, child = map(int, pids.read_text().split())
    assert _dead(kernel), "the kernel of the stopped run is still running"
    assert _dead(child), "a process the student's code started is still running"


# --------------------------------------------------------------------------------------------
# The grader's arguments, the CSV and the import (fast: otter is never run)
# --------------------------------------------------------------------------------------------


@pytest.fixture
def fake_batch(tmp_path):
    """A zip and a folder that pass the argument checks (nothing here is ever graded)."""
    zip_path = tmp_path / "ag.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.writestr("tests/q1.py", "OK_FORMAT = False\nname = 'q1'\npoints = 1\n")
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "alice.ipynb").write_text("{}")
    return zip_path, subs


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf"), True, "300"])
def test_timeout_must_be_positive(fake_batch, timeout):
    with pytest.raises(ValueError, match="^timeout must be"):
        grade_submissions(*fake_batch, timeout=timeout)


@pytest.mark.parametrize("jobs", [0, -2, 1.5, True, "2"])
def test_jobs_must_be_a_positive_integer(fake_batch, jobs):
    with pytest.raises(ValueError, match="^jobs must be"):
        grade_submissions(*fake_batch, jobs=jobs)


def test_autograder_zip_must_exist_and_be_a_zip(fake_batch, tmp_path):
    _, subs = fake_batch
    with pytest.raises(ValueError, match="^autograder_zip: .* does not exist"):
        grade_submissions(tmp_path / "missing.zip", subs)
    not_zip = tmp_path / "ag.txt"
    not_zip.write_text("hello")
    with pytest.raises(ValueError, match="^autograder_zip: .* is not a zip file"):
        grade_submissions(not_zip, subs)


def test_submissions_must_be_a_folder_with_notebooks(fake_batch, tmp_path):
    zip_path, _ = fake_batch
    with pytest.raises(ValueError, match="^submissions: .* does not exist"):
        grade_submissions(zip_path, tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no notebooks here")
    with pytest.raises(ValueError, match="^submissions: no .ipynb or .zip files"):
        grade_submissions(zip_path, empty)
    with pytest.raises(ValueError, match="^submissions: the list of files is empty"):
        grade_submissions(zip_path, [])
    with pytest.raises(ValueError, match="^submissions: .*readme.txt.* is not an existing"):
        grade_submissions(zip_path, [empty / "readme.txt"])
    twice = tmp_path / "twice"
    twice.mkdir()
    (twice / "bob.ipynb").write_text("{}")
    (twice / "bob.zip").write_bytes(b"")
    with pytest.raises(ValueError, match="^submissions: .* are both named 'bob'"):
        grade_submissions(zip_path, twice)


def test_missing_otter_says_how_to_install_it(fake_batch, monkeypatch):
    monkeypatch.setitem(sys.modules, "otter", None)  # as if not installed
    with pytest.raises(ModuleNotFoundError, match=re.escape('pip install "dlopt-lab[assignments]"')):
        grade_submissions(*fake_batch)


def test_cli_reports_bad_arguments(fake_batch, tmp_path, capsys):
    _, subs = fake_batch
    with pytest.raises(SystemExit) as exc:
        grading.main([str(tmp_path / "missing.zip"), str(subs)])
    assert exc.value.code == 2
    assert "error: autograder_zip:" in capsys.readouterr().err


def _grade(student, status, scores=None, reason=""):
    questions = (Question("q1", 2.0), Question("q2", 1.5), Question("q10", 0.5))
    return SubmissionGrade(student, Path(f"{student}.ipynb"), questions, status, scores or {}, reason)


def test_write_csv(tmp_path):
    grades = [_grade("ann", "ok", {"q1": 2.0, "q2": 0.5, "q10": 0.0}),
              _grade("bo, jr", "timeout", reason="no result within 5 s; stopped"),
              _grade("cy", "ok", {"q1": 1 / 3, "q2": 0.0, "q10": 0.5})]
    text = write_csv(grades, tmp_path / "g.csv").read_text()
    assert text == (
        "student,q1,q2,q10,total,possible,percent,status,reason\n"
        "ann,2,0.5,0,2.5,4,62.5,ok,\n"
        '"bo, jr",,,,0,4,0,timeout,no result within 5 s; stopped\n'
        "cy,0.3333,0,0.5,0.8333,4,20.83,ok,\n"
    )
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[1]["student"] == "bo, jr" and rows[1]["status"] == "timeout"
    with pytest.raises(ValueError, match="^grades is empty"):
        write_csv([], tmp_path / "x.csv")
    other = SubmissionGrade("dee", Path("dee.ipynb"), (Question("q1", 1.0),), "ok", {"q1": 1.0})
    with pytest.raises(ValueError, match="one assignment"):
        write_csv([grades[0], other], tmp_path / "x.csv")


def test_questions_in_natural_order():
    assert sorted(["q10", "q2", "q1"], key=grading._natural_key) == ["q1", "q2", "q10"]


@pytest.mark.parametrize("log, summary", [
    ("Traceback (most recent call last):\n  ...\nnbclient.exceptions.DeadKernelError: Kernel died\n",
     "DeadKernelError: Kernel died"),
    ("lots of output\nKeyboardInterrupt\n", "KeyboardInterrupt"),
    ("no error line at all\n", "no error line at all"),
    ("", "no output"),
])
def test_error_summary(log, summary):
    assert grading._error_summary(log) == summary


def test_importing_the_grader_imports_neither_otter_nor_torch():
    code = ("import json, sys, dlopt_lab.grading\n"
            "print(json.dumps([m for m in ['otter', 'torch', 'pandas'] if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         timeout=60, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert json.loads(out.stdout) == []
