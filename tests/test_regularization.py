"""Regularization: inverted dropout against torch.nn.functional.dropout (exact scaling, the same
statistics), and the L2 / L1 penalties against their formulas, their gradients, and
torch.optim's weight_decay."""

import doctest
import math
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

import dlopt_lab.regularization as reg
from dlopt_lab.regularization import inverted_dropout, l1_penalty, l2_penalty

# --------------------------------------------------------------------------------------------
# Dropout
# --------------------------------------------------------------------------------------------


def _pair(x, p, seed):
    """Our dropout and torch's on the same input, each from a generator seeded with ``seed``."""
    ours = inverted_dropout(x, p, generator=torch.Generator().manual_seed(seed))
    torch.manual_seed(seed)  # F.dropout takes no generator: it draws from the global one
    return ours, F.dropout(x, p, training=True)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_survivors_are_scaled_exactly_as_torch_scales_them(p, dtype):
    x = torch.rand(20_000, dtype=dtype, generator=torch.Generator().manual_seed(1)) + 0.5
    ours, theirs = _pair(x, p, seed=0)
    assert ours.dtype == dtype and ours.shape == x.shape
    both = (ours != 0) & (theirs != 0)
    assert both.sum() > 0
    assert torch.equal(ours[both], theirs[both])  # bit for bit: x * (1/(1-p))
    torch.testing.assert_close(ours[ours != 0], x[ours != 0] / (1 - p))


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_fraction_of_zeros_is_p_for_both(p):
    n = 400_000
    x = torch.ones(n)
    se = math.sqrt(p * (1 - p) / n)  # standard error of a fraction of n Bernoulli(p)
    zeros = [float((out == 0).double().mean()) for out in _pair(x, p, seed=3)]
    for frac in zeros:
        assert abs(frac - p) < 5 * se
    assert abs(zeros[0] - zeros[1]) < 5 * math.sqrt(2) * se


@pytest.mark.parametrize("p", [0.3, 0.7])
def test_expected_output_is_the_input_for_both(p):
    R, d = 20_000, 50  # R draws of a vector of d entries
    x = torch.randn(d, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    # Var[out_i] = x_i^2 p / (1 - p): the standard error of a mean of R draws
    se = x.abs() * math.sqrt(p / (1 - p) / R)
    for out in _pair(x.expand(R, d).contiguous(), p, seed=5):
        assert torch.all((out.mean(0) - x).abs() < 5 * se)
        # and the second moment E[out^2] = x^2 / (1 - p), within 5 standard errors too
        m2, want = (out ** 2).mean(0), x ** 2 / (1 - p)
        assert torch.all((m2 - want).abs() < 5 * want * math.sqrt(p / (1 - p) / R))


def test_eval_mode_and_p_zero_are_the_identity():
    x = torch.randn(4, 5)
    for p in (0.0, 0.5):
        assert inverted_dropout(x, p, training=False) is x
        assert torch.equal(inverted_dropout(x, p, training=False),
                           F.dropout(x, p, training=False))
    assert torch.equal(inverted_dropout(x, 0.0), F.dropout(x, 0.0, training=True))


def test_dropout_is_reproducible_and_differentiable():
    x = torch.randn(3, 1, 8, 8, requires_grad=True)
    a = inverted_dropout(x, 0.4, generator=torch.Generator().manual_seed(0))
    b = inverted_dropout(x, 0.4, generator=torch.Generator().manual_seed(0))
    c = inverted_dropout(x, 0.4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, c)
    a.sum().backward()
    torch.testing.assert_close(x.grad, (a != 0).float() / 0.6)  # d out / dx = m / (1 - p)


@pytest.mark.parametrize("p", [1.0, -0.1, 1.5, float("nan"), "0.5"])
def test_dropout_rejects_p_outside_0_1(p):
    with pytest.raises(ValueError, match=r"^Invalid p"):
        inverted_dropout(torch.ones(3), p)


def test_dropout_error_names_the_range():
    with pytest.raises(ValueError, match=r"^Invalid p: 1 \(must be in \[0, 1\)\)$"):
        inverted_dropout(torch.ones(3), 1.0)


# --------------------------------------------------------------------------------------------
# Penalties
# --------------------------------------------------------------------------------------------


@pytest.fixture
def weights():
    gen = torch.Generator().manual_seed(0)
    ws = [torch.randn(5, 3, dtype=torch.float64, generator=gen),
          torch.randn(7, dtype=torch.float64, generator=gen)]
    ws[1][2] = 0.0  # an exact zero: the subgradient of |w| there is 0
    return [w.requires_grad_() for w in ws]


def test_l2_penalty_value_and_gradient(weights):
    value = l2_penalty(weights)
    assert value.requires_grad
    direct = 0.5 * sum(float(torch.linalg.vector_norm(w.detach())) ** 2 for w in weights)
    assert float(value.detach()) == pytest.approx(direct, rel=1e-12)
    grads = torch.autograd.grad(value, weights)
    for w, g in zip(weights, grads):
        torch.testing.assert_close(g, w.detach(), rtol=0, atol=0)  # d/dw (1/2)|w|^2 = w


def test_l1_penalty_value_and_gradient(weights):
    value = l1_penalty(weights)
    direct = sum(float(torch.linalg.vector_norm(w.detach(), ord=1)) for w in weights)
    assert float(value.detach()) == pytest.approx(direct, rel=1e-12)
    grads = torch.autograd.grad(value, weights)
    for w, g in zip(weights, grads):
        assert torch.equal(g, torch.sign(w.detach()))  # d/dw |w| = sign(w), 0 at 0
    assert grads[1][2] == 0


def test_penalties_accept_a_generator_of_parameters():
    model = torch.nn.Linear(3, 2)
    expected = 0.5 * sum(float((p.detach() ** 2).sum()) for p in model.parameters())
    assert float(l2_penalty(model.parameters()).detach()) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="^params is empty"):
        l2_penalty([])
    with pytest.raises(ValueError, match="^params is empty"):
        l1_penalty(p for p in [])


def _train(opt_cls, lam, penalized, steps=3, **kw):
    """A few steps on a tiny regression; weight_decay=lam or lam * l2_penalty in the loss."""
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1).double()
    X = torch.randn(16, 4, dtype=torch.float64)
    y = torch.randn(16, 1, dtype=torch.float64)
    opt = opt_cls(model.parameters(), lr=0.1, weight_decay=0.0 if penalized else lam, **kw)
    for _ in range(steps):
        opt.zero_grad()
        loss = F.mse_loss(model(X), y)
        if penalized:
            loss = loss + lam * l2_penalty(model.parameters())
        loss.backward()
        opt.step()
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_l2_penalty_is_torch_weight_decay_for_sgd_and_adam_but_not_adamw():
    lam = 0.3
    torch.testing.assert_close(_train(torch.optim.SGD, lam, True),
                               _train(torch.optim.SGD, lam, False), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(_train(torch.optim.SGD, lam, True, momentum=0.9),
                               _train(torch.optim.SGD, lam, False, momentum=0.9),
                               rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(_train(torch.optim.Adam, lam, True),
                               _train(torch.optim.Adam, lam, False), rtol=1e-12, atol=1e-12)
    gap = (_train(torch.optim.Adam, lam, True) - _train(torch.optim.AdamW, lam, False)).abs()
    assert gap.max() > 1e-4  # decoupled weight decay is a different method


# --------------------------------------------------------------------------------------------
# The module
# --------------------------------------------------------------------------------------------


def test_doctests_pass():
    result = doctest.testmod(reg, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted > 0 and result.failed == 0


def test_import_does_not_load_torch():
    code = "import sys, dlopt_lab.regularization; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
