"""The pure update rules: NumPy against torch.optim, purity, closed forms, validation."""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import dlopt_lab.optim as ours
from dlopt_lab.optim import functional as F

# (factory, factory kwargs, torch.optim class, class kwargs): the same rule, spelled both ways
EQUIVALENT = [
    (F.sgd, {"lr": 0.1}, "SGD", {"lr": 0.1}),
    (
        F.sgd,
        {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
        "SGD",
        {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
    ),
    (
        F.sgd,
        {"lr": 0.05, "momentum": 0.8, "dampening": 0.5, "maximize": True},
        "SGD",
        {"lr": 0.05, "momentum": 0.8, "dampening": 0.5, "maximize": True},
    ),
    (F.adagrad, {"lr": 0.1}, "Adagrad", {"lr": 0.1}),
    (
        F.adagrad,
        {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.05, "initial_accumulator_value": 0.2},
        "Adagrad",
        {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.05, "initial_accumulator_value": 0.2},
    ),
    (F.rmsprop, {"lr": 0.01}, "RMSprop", {"lr": 0.01}),
    (
        F.rmsprop,
        {"lr": 0.01, "alpha": 0.9, "momentum": 0.5, "centered": True, "weight_decay": 0.01},
        "RMSprop",
        {"lr": 0.01, "alpha": 0.9, "momentum": 0.5, "centered": True, "weight_decay": 0.01},
    ),
    (F.adam, {"lr": 0.01}, "Adam", {"lr": 0.01}),
    (
        F.adam,
        {"lr": 0.01, "beta1": 0.8, "beta2": 0.99, "amsgrad": True, "weight_decay": 0.1},
        "Adam",
        {"lr": 0.01, "betas": (0.8, 0.99), "amsgrad": True, "weight_decay": 0.1},
    ),
    (
        F.adamw,
        {"lr": 0.01, "amsgrad": True, "maximize": True},
        "AdamW",
        {"lr": 0.01, "amsgrad": True, "maximize": True},
    ),
    (F.adamw, {"lr": 0.01, "weight_decay": 0.3}, "AdamW", {"lr": 0.01, "weight_decay": 0.3}),
]


def _ids(cases):
    return [f"{c[0].__name__}({','.join(f'{k}={v}' for k, v in c[1].items())})" for c in cases]


def grad_fn(x, a, c):
    """Gradient of sum(a (x - c)^2 / 2 + x^4 / 40): elementwise, so NumPy and torch agree."""
    return a * (x - c) + 0.1 * x * x * x


def problem():
    rng = np.random.default_rng(0)
    x0 = rng.normal(size=(3, 4))
    a = rng.uniform(0.5, 2.0, size=(3, 4))
    c = rng.normal(size=(3, 4))
    return x0, a, c


@pytest.mark.parametrize(("factory", "fkwargs", "cls", "ckwargs"), EQUIVALENT, ids=_ids(EQUIVALENT))
def test_numpy_rule_matches_torch_class(factory, fkwargs, cls, ckwargs):
    x0, a, c = problem()
    # noise makes the gradients stochastic: without it, centered RMSprop's v - g_bar^2 tends to
    # 0 as the iterates converge, and that cancellation alone magnifies rounding past 1e-12
    noise = 0.1 * np.random.default_rng(2).normal(size=(200, *x0.shape))
    sign = -1.0 if fkwargs.get("maximize") else 1.0  # with maximize, ascend -f: still a descent
    rule = factory(**fkwargs)
    x, state = x0.copy(), rule.init(x0)

    w = torch.nn.Parameter(torch.tensor(x0))
    a_t, c_t = torch.tensor(a), torch.tensor(c)
    opt = getattr(ours, cls)([w], **ckwargs)
    for t in range(1, 201):
        x, state = rule.step(x, sign * (grad_fn(x, a, c) + noise[t - 1]), state)
        w.grad = sign * (grad_fn(w.detach(), a_t, c_t) + torch.tensor(noise[t - 1]))
        opt.step()
        np.testing.assert_allclose(x, w.detach().numpy(), rtol=1e-12, atol=0, err_msg=f"step {t}")
    assert isinstance(x, np.ndarray) and x.dtype == np.float64
    assert not np.allclose(x, x0, rtol=1e-3)  # it moved


# Configurations that use every branch of every rule, for the purity and in-place tests
ALL_BRANCHES = [
    F.sgd(lr=0.1),
    F.sgd(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1, maximize=True),
    F.adagrad(lr_decay=0.1, weight_decay=0.1, initial_accumulator_value=0.1),
    F.rmsprop(momentum=0.9, centered=True, weight_decay=0.1),
    F.rmsprop(),
    F.adam(amsgrad=True, weight_decay=0.1),
    F.adamw(amsgrad=True, maximize=True),
]


def _to(backend, x):
    return torch.tensor(x) if backend == "torch" else np.array(x)


def _snapshot(obj):
    return copy.deepcopy(obj)


def _equal(a, b):
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    return np.array_equal(a, b)


def _arrays(state):
    return [f for f in state if f is not None and not isinstance(f, int)]


def _start(rule, backend, steps=2):
    """param, grad and state after ``steps`` steps, so that every buffer exists."""
    rng = np.random.default_rng(1)
    param = _to(backend, rng.normal(size=5))
    state = rule.init(param)
    for _ in range(steps):
        param, state = rule.step(param, _to(backend, rng.normal(size=5)), state)
    return param, _to(backend, rng.normal(size=5)), state


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("rule", ALL_BRANCHES, ids=repr)
def test_step_is_pure(rule, backend):
    param, grad, state = _start(rule, backend)
    before = _snapshot((param, grad, state))
    new_param, new_state = rule.step(param, grad, state)

    for old, saved in zip((param, grad, *state), (before[0], before[1], *before[2]), strict=True):
        assert _equal(old, saved)  # inputs untouched
    assert not _equal(new_param, param)  # and the step did something
    assert new_param is not param
    for new in _arrays(new_state):  # no new state array is an input array
        assert all(new is not old for old in (param, grad, *_arrays(state)))


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_first_momentum_buffer_is_a_copy_of_the_gradient(backend):
    grad = _to(backend, [1.0, -2.0])
    for inplace in (False, True):
        param = _to(backend, [0.0, 0.0])
        _, state = F.sgd_step(param, grad, F.sgd_init(param), lr=0.1, momentum=0.9, inplace=inplace)
        state.momentum_buffer[0] = 7.0  # writing into the buffer must not write into grad
        assert grad[0] == 1.0


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("rule", ALL_BRANCHES, ids=repr)
def test_inplace_mode_overwrites_and_agrees_with_pure_mode(rule, backend):
    param, grad, state = _start(rule, backend)
    pure_param, pure_state = rule.step(param, grad, state)
    new_param, new_state = rule.step(param, grad, state, inplace=True)
    assert new_param is param  # written in place
    for new, old in zip(new_state, state, strict=True):
        if old is not None and not isinstance(old, int):
            assert new is old
    assert _equal(new_param, pure_param)
    for a, b in zip(new_state, pure_state, strict=True):
        assert a == b if isinstance(a, int) else _equal(a, b)


@settings(max_examples=50, deadline=None)
@given(
    lr=st.floats(0.0, 1.0),
    beta1=st.floats(0.0, 0.99),
    beta2=st.floats(0.0, 0.9999),
    weight_decay=st.floats(0.0, 1.0),
    amsgrad=st.booleans(),
    decoupled=st.booleans(),
    values=st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=2),
)
def test_adam_is_pure_for_any_hyperparameters(
    lr, beta1, beta2, weight_decay, amsgrad, decoupled, values
):
    rule = F.adam(lr, beta1, beta2, 1e-8, weight_decay, amsgrad, decoupled)
    param, grad = np.array(values), np.array(values[::-1])
    state = rule.init(param)
    param, state = rule.step(param, grad, state)
    before = _snapshot((param, grad, state))
    rule.step(param, grad, state)
    assert np.array_equal(param, before[0]) and np.array_equal(grad, before[1])
    for a, b in zip(state, before[2], strict=True):
        assert a == b if isinstance(a, int) or a is None else np.array_equal(a, b)


# --------------------------------------------------------------------------------------------
# Closed forms
# --------------------------------------------------------------------------------------------


def test_sgd_on_a_quadratic_is_a_geometric_sequence():
    a, lr = np.array([2.0, 0.5, 9.0]), 0.1  # f = a x^2 / 2, so x_t = (1 - lr a)^t x_0
    x0 = np.array([3.0, -1.5, 1.0])
    x, state = x0, F.sgd_init(x0)
    for t in range(1, 51):
        x, state = F.sgd_step(x, a * x, state, lr=lr)
        np.testing.assert_allclose(x, (1 - lr * a) ** t * x0, rtol=1e-12)


def test_sgd_momentum_with_a_constant_gradient():
    # b_t = g (1 - mu^t) / (1 - mu), so x_t = x_0 - lr g sum_{k<=t} (1 - mu^k) / (1 - mu)
    g, lr, mu = np.array([1.0, -0.5]), 0.1, 0.9
    x, state = np.zeros(2), F.sgd_init(None)
    for t in range(1, 31):
        x, state = F.sgd_step(x, g, state, lr=lr, momentum=mu)
        k = np.arange(1, t + 1)
        np.testing.assert_allclose(x, -lr * g * np.sum((1 - mu**k) / (1 - mu)), rtol=1e-12)


GRADS = np.array([3e-4, -2.0, 5e3, -7e-2])


def test_adam_with_a_constant_gradient_steps_lr_sign_g():
    # m_hat = g and v_hat = g^2 exactly at every t (that is what bias correction is for)
    lr, eps = 0.01, 1e-8
    x, state = np.zeros(4), F.adam_init(np.zeros(4))
    for t in range(1, 21):
        x, state = F.adam_step(x, GRADS, state, lr=lr, eps=eps)
        np.testing.assert_allclose(x, -t * lr * GRADS / (np.abs(GRADS) + eps), rtol=1e-10)
    np.testing.assert_allclose(x, -20 * lr * np.sign(GRADS), rtol=1e-4)


def test_adagrad_first_step_and_constant_gradient():
    # s_t = t g^2, so the t-th step is lr g / (sqrt(t) |g| + eps)
    lr, eps = 0.1, 1e-10
    x, state = np.zeros(4), F.adagrad_init(np.zeros(4))
    x, state = F.adagrad_step(x, GRADS, state, lr=lr)
    np.testing.assert_allclose(x, -lr * GRADS / (np.abs(GRADS) + eps), rtol=1e-12)
    for _ in range(9):
        x, state = F.adagrad_step(x, GRADS, state, lr=lr)
    k = np.arange(1, 11)[:, None]
    expected = -np.sum(lr * GRADS / (np.sqrt(k) * np.abs(GRADS) + eps), axis=0)
    np.testing.assert_allclose(x, expected, rtol=1e-12)


def test_rmsprop_first_step_is_lr_over_sqrt_one_minus_alpha():
    lr, alpha, eps = 0.01, 0.99, 1e-8
    x, _ = F.rmsprop_step(np.zeros(4), GRADS, F.rmsprop_init(np.zeros(4)), lr=lr, alpha=alpha)
    expected = -lr * GRADS / (np.sqrt(1 - alpha) * np.abs(GRADS) + eps)
    np.testing.assert_allclose(x, expected, rtol=1e-12)


def test_adamw_decay_is_decoupled_from_the_gradient():
    # with g = 0 AdamW shrinks theta by exactly (1 - lr lambda) per step; Adam's L2 decay goes
    # through m and v and moves theta by about lr per step instead
    lr, lam = 0.01, 0.5
    theta0 = np.array([1.0, -3.0])
    theta_w, state_w = theta0, F.adam_init(theta0)
    theta_l2, state_l2 = theta0, F.adam_init(theta0)
    for t in range(1, 11):
        theta_w, state_w = F.adam_step(
            theta_w, np.zeros(2), state_w, lr=lr, weight_decay=lam, decoupled_weight_decay=True
        )
        theta_l2, state_l2 = F.adam_step(theta_l2, np.zeros(2), state_l2, lr=lr, weight_decay=lam)
        np.testing.assert_allclose(theta_w, (1 - lr * lam) ** t * theta0, rtol=1e-12)
    np.testing.assert_allclose(theta_l2, theta0 - 10 * lr * np.sign(theta0), atol=1e-3)


def test_amsgrad_keeps_the_maximum_of_v():
    rule = F.adam(beta2=0.5, amsgrad=True)
    x, state = np.zeros(2), rule.init(np.zeros(2))
    vs = []
    for g in ([4.0, 1.0], [0.0, 3.0], [0.0, 0.0]):
        x, state = rule.step(x, np.array(g), state)
        vs.append(state.v)
    np.testing.assert_array_equal(state.v_max, np.max(vs, axis=0))
    assert np.all(state.v_max > state.v)  # v has fallen since, v_max has not


def test_rules_accept_python_floats():
    x, state = 1.0, F.adam_init(1.0)
    x, state = F.adam_step(x, 2.0, state, lr=0.1)
    assert float(x) == pytest.approx(0.9)


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------

INVALID = [
    (F.sgd, {"lr": -1.0}, "lr"),
    (F.sgd, {"lr": float("nan")}, "lr"),
    (F.sgd, {"lr": "0.1"}, "lr"),
    (F.sgd, {"lr": 0.1, "momentum": -0.5}, "momentum"),
    (F.sgd, {"lr": 0.1, "dampening": 1.5}, "dampening"),
    (F.sgd, {"lr": 0.1, "weight_decay": -1.0}, "weight_decay"),
    (F.sgd, {"lr": 0.1, "nesterov": True}, "nesterov"),
    (F.sgd, {"lr": 0.1, "momentum": 0.9, "dampening": 0.5, "nesterov": True}, "nesterov"),
    (F.adagrad, {"lr": -1.0}, "lr"),
    (F.adagrad, {"lr_decay": -1.0}, "lr_decay"),
    (F.adagrad, {"weight_decay": -1.0}, "weight_decay"),
    (F.adagrad, {"initial_accumulator_value": -1.0}, "initial_accumulator_value"),
    (F.adagrad, {"eps": -1.0}, "eps"),
    (F.rmsprop, {"lr": -1.0}, "lr"),
    (F.rmsprop, {"alpha": -0.1}, "alpha"),
    (F.rmsprop, {"alpha": 1.5}, "alpha"),
    (F.rmsprop, {"eps": -1.0}, "eps"),
    (F.rmsprop, {"weight_decay": -1.0}, "weight_decay"),
    (F.rmsprop, {"momentum": -1.0}, "momentum"),
    (F.adam, {"lr": -1.0}, "lr"),
    (F.adam, {"beta1": 1.0}, "beta1"),
    (F.adam, {"beta1": -0.1}, "beta1"),
    (F.adam, {"beta2": 1.0}, "beta2"),
    (F.adam, {"eps": -1.0}, "eps"),
    (F.adam, {"weight_decay": -1.0}, "weight_decay"),
    (F.adamw, {"beta2": 1.5}, "beta2"),
    (F.adamw, {"weight_decay": -1.0}, "weight_decay"),
]


@pytest.mark.parametrize(("factory", "kwargs", "arg"), INVALID, ids=_ids(INVALID))
def test_factories_reject_bad_hyperparameters(factory, kwargs, arg):
    with pytest.raises(ValueError, match=rf"\b{re.escape(arg)}\b"):
        factory(**kwargs)


def test_error_message_states_the_allowed_range():
    with pytest.raises(ValueError, match=re.escape("Invalid beta1: 1 (must be in [0, 1))")):
        F.adam(beta1=1.0)
    with pytest.raises(ValueError, match=re.escape("Invalid lr: -0.5 (must be >= 0)")):
        F.rmsprop(lr=-0.5)


def test_factories_bind_defaults_equal_to_torch():
    assert F.adam().hparams["lr"] == 1e-3 and F.adam().hparams["weight_decay"] == 0.0
    assert F.adamw().hparams["weight_decay"] == 1e-2 and F.adamw().hparams["decoupled_weight_decay"]
    assert F.adagrad().hparams["eps"] == 1e-10 and F.rmsprop().hparams["alpha"] == 0.99
    assert repr(F.adamw(lr=0.1)).startswith("adamw(lr=0.1, beta1=0.9, beta2=0.999")


def test_importing_the_rules_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, dlopt_lab.optim; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
