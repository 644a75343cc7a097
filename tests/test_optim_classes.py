"""dlopt_lab's optimizer classes against torch.optim, side by side on identical models."""

from __future__ import annotations

import copy
import io
import re

import pytest
import torch

import dlopt_lab.optim as ours
from dlopt_lab.optim import functional

CLASSES = ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW"]

# (class, constructor keyword arguments, overrides for the second parameter group)
CONFIGS = [
    ("SGD", {"lr": 0.05}, {"lr": 0.02}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}, {"lr": 0.02}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3}, {"lr": 0.02}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}, {"lr": 0.02, "momentum": 0.5}),
    ("SGD", {"lr": 0.05, "weight_decay": 0.1}, {"lr": 0.02}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "weight_decay": 0.05, "nesterov": True}, {"lr": 0.02}),
    ("SGD", {"lr": 0.05, "maximize": True}, {"lr": 0.02}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01, "maximize": True}, {"lr": 0.1}),
    ("Adagrad", {"lr": 0.05}, {"lr": 0.01}),
    ("Adagrad", {"lr": 0.05, "lr_decay": 0.01}, {"lr": 0.01}),
    ("Adagrad", {"lr": 0.05, "weight_decay": 0.1}, {"lr": 0.01}),
    ("Adagrad", {"lr": 0.05, "initial_accumulator_value": 0.5}, {"lr": 0.01}),
    ("Adagrad", {"lr": 0.05, "lr_decay": 0.02, "weight_decay": 0.05, "eps": 1e-3}, {"lr": 0.2}),
    ("Adagrad", {"lr": 0.05, "initial_accumulator_value": 0.1, "maximize": True}, {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01}, {"lr": 0.003}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9}, {"lr": 0.003}),
    ("RMSprop", {"lr": 0.01, "centered": True}, {"lr": 0.003}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.5}, {"lr": 0.003, "alpha": 0.9}),
    ("RMSprop", {"lr": 0.01, "weight_decay": 0.1}, {"lr": 0.003}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "eps": 1e-4, "weight_decay": 0.01}, {"lr": 0.003}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9, "maximize": True}, {"lr": 0.003}),
    ("Adam", {"lr": 0.01}, {"lr": 0.003}),
    ("Adam", {"lr": 0.01, "amsgrad": True}, {"lr": 0.003}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1}, {"lr": 0.003}),
    ("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1}, {"lr": 0.003}),
    ("Adam", {"lr": 0.01, "betas": (0.5, 0.9), "eps": 1e-6}, {"lr": 0.003, "betas": (0.8, 0.99)}),
    ("Adam", {"lr": 0.01, "maximize": True, "amsgrad": True}, {"lr": 0.003}),
    ("AdamW", {"lr": 0.01}, {"lr": 0.003}),
    ("AdamW", {"lr": 0.01, "amsgrad": True}, {"lr": 0.003}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1}, {"lr": 0.003, "weight_decay": 0.0}),
    ("AdamW", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.3}, {"lr": 0.003}),
    ("AdamW", {"lr": 0.01, "betas": (0.5, 0.9), "maximize": True}, {"lr": 0.003}),
]


def _config_id(config: tuple) -> str:
    name, kwargs, group1 = config
    args = ",".join(f"{k}={v}" for k, v in kwargs.items())
    return f"{name}({args})|{','.join(f'{k}={v}' for k, v in group1.items())}"


def make_model(dtype: torch.dtype) -> torch.nn.Module:
    """A small MLP, plus a parameter ``unused`` that the loss never touches (grad stays None)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
    model.unused = torch.nn.Parameter(torch.randn(4))
    return model.to(dtype)


def param_groups(model: torch.nn.Module, group1: dict) -> list[dict]:
    """Two groups: the first layer with the defaults, the rest with ``group1``'s overrides."""
    return [
        {"params": list(model[0].parameters())},
        {"params": [*model[2].parameters(), model.unused], **group1},
    ]


def make_data(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    X = torch.randn(64, 6, generator=gen, dtype=dtype)
    y = torch.randn(64, 3, generator=gen, dtype=dtype)
    return X, y


def loss_fn(model: torch.nn.Module, data: tuple, maximize: bool) -> torch.Tensor:
    X, y = data
    loss = torch.nn.functional.mse_loss(model(X), y)
    return -loss if maximize else loss  # with maximize, ascend -loss: still a descent


def train_step(model, opt, data, maximize):
    opt.zero_grad()
    loss_fn(model, data, maximize).backward()
    opt.step()


@pytest.mark.parametrize(
    ("dtype", "rtol", "atol"),
    [(torch.float64, 1e-10, 0.0), (torch.float32, 1e-5, 1e-7)],
    ids=["float64", "float32"],
)
@pytest.mark.parametrize("config", CONFIGS, ids=[_config_id(c) for c in CONFIGS])
def test_trajectory_matches_torch(config, dtype, rtol, atol):
    name, kwargs, group1 = config
    maximize = kwargs.get("maximize", False)
    data = make_data(dtype)
    model_ours = make_model(dtype)
    model_torch = copy.deepcopy(model_ours)
    unused_before = model_ours.unused.detach().clone()
    opt_ours = getattr(ours, name)(param_groups(model_ours, group1), **kwargs)
    opt_torch = getattr(torch.optim, name)(param_groups(model_torch, group1), **kwargs)

    for step in range(1, 301):
        train_step(model_ours, opt_ours, data, maximize)
        train_step(model_torch, opt_torch, data, maximize)
        for (pname, p), q in zip(
            model_ours.named_parameters(), model_torch.parameters(), strict=True
        ):
            torch.testing.assert_close(
                p, q, rtol=rtol, atol=atol, msg=lambda m, n=pname, t=step: f"{n}, step {t}: {m}"
            )

    assert torch.equal(model_ours.unused, unused_before)
    assert model_ours.unused not in opt_ours.state
    # the run went somewhere: the comparison was not between two models that stood still
    assert not torch.allclose(model_ours[0].weight, make_model(dtype)[0].weight, rtol=1e-3)


def test_state_holds_the_rule_state_fields_created_lazily():
    model = make_model(torch.float64)
    data = make_data(torch.float64)
    opt = ours.Adam(param_groups(model, {}), amsgrad=True)
    assert len(opt.state) == 0
    train_step(model, opt, data, maximize=False)
    w = model[0].weight
    assert set(opt.state[w]) == set(functional.AdamState._fields)
    assert opt.state[w]["t"] == 1
    assert opt.state[w]["m"].shape == w.shape


STATEFUL = {  # configurations with every state buffer in use
    "SGD": {"lr": 0.05, "momentum": 0.9},
    "Adagrad": {"lr": 0.05, "lr_decay": 0.01, "initial_accumulator_value": 0.1},
    "RMSprop": {"lr": 0.01, "momentum": 0.9, "centered": True},
    "Adam": {"lr": 0.01, "amsgrad": True},
    "AdamW": {"lr": 0.01, "amsgrad": True},
}


@pytest.mark.parametrize("name", CLASSES)
def test_state_dict_round_trip(name):
    kwargs, dtype = STATEFUL[name], torch.float64
    data = make_data(dtype)

    model_ref = make_model(dtype)
    opt_ref = getattr(ours, name)(param_groups(model_ref, {"lr": 0.003}), **kwargs)
    for _ in range(30):
        train_step(model_ref, opt_ref, data, maximize=False)

    model_a = make_model(dtype)
    opt_a = getattr(ours, name)(param_groups(model_a, {"lr": 0.003}), **kwargs)
    for _ in range(10):
        train_step(model_a, opt_a, data, maximize=False)
    buffer = io.BytesIO()
    torch.save({"model": model_a.state_dict(), "opt": opt_a.state_dict()}, buffer)
    del model_a, opt_a

    buffer.seek(0)
    saved = torch.load(buffer)
    model_b = make_model(dtype)
    opt_b = getattr(ours, name)(param_groups(model_b, {"lr": 0.003}), **kwargs)
    model_b.load_state_dict(saved["model"])
    opt_b.load_state_dict(saved["opt"])
    assert opt_b.param_groups[1]["lr"] == 0.003
    for _ in range(20):
        train_step(model_b, opt_b, data, maximize=False)

    for p, q in zip(model_b.parameters(), model_ref.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_step_with_closure_returns_the_loss(name):
    data = make_data(torch.float64)
    model_ours, model_torch = make_model(torch.float64), make_model(torch.float64)
    opt_ours = getattr(ours, name)(model_ours.parameters(), lr=0.01)
    opt_torch = getattr(torch.optim, name)(model_torch.parameters(), lr=0.01)
    for model, opt in [(model_ours, opt_ours), (model_torch, opt_torch)]:

        def closure(model=model, opt=opt):
            opt.zero_grad()
            loss = loss_fn(model, data, maximize=False)
            loss.backward()
            return loss

        for _ in range(3):
            loss = opt.step(closure)
        model.final_loss = loss
    assert isinstance(model_ours.final_loss, torch.Tensor)
    torch.testing.assert_close(model_ours.final_loss, model_torch.final_loss, rtol=1e-12, atol=0)
    torch.testing.assert_close(model_ours[0].weight, model_torch[0].weight, rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_works_with_an_lr_scheduler_and_step_hooks(name):
    data = make_data(torch.float64)
    models, calls = [], []
    for optim in (ours, torch.optim):
        model = make_model(torch.float64)
        opt = getattr(optim, name)(param_groups(model, {"lr": 0.003}), lr=0.01)
        opt.register_step_post_hook(lambda opt, args, kwargs: calls.append(type(opt)))
        scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.5)
        for _ in range(20):
            train_step(model, opt, data, maximize=False)
            scheduler.step()
        assert opt.param_groups[1]["lr"] == pytest.approx(0.003 / 16)
        models.append(model)
    assert calls == [getattr(ours, name)] * 20 + [getattr(torch.optim, name)] * 20
    for p, q in zip(*(m.parameters() for m in models), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=0)


RULE_STEPS = {
    "SGD": "sgd_step",
    "Adagrad": "adagrad_step",
    "RMSprop": "rmsprop_step",
    "Adam": "adam_step",
    "AdamW": "adam_step",
}


@pytest.mark.parametrize("name", CLASSES)
def test_class_step_calls_the_functional_rule(name, monkeypatch):
    """One formula, one place: the class's arithmetic is the functional rule's."""
    calls = []
    rule_step = getattr(functional, RULE_STEPS[name])

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return rule_step(*args, **kwargs)

    monkeypatch.setattr(functional, RULE_STEPS[name], spy)
    model = make_model(torch.float64)
    opt = getattr(ours, name)(param_groups(model, {}))
    train_step(model, opt, make_data(torch.float64), maximize=False)
    assert len(calls) == 4  # two layers with a weight and a bias each; `unused` has no grad
    assert all(c["inplace"] for c in calls)


# Each case: torch.optim rejects it with a ValueError, and so must we, naming the argument.
INVALID = [
    ("SGD", {"lr": -0.1}, "lr"),
    ("SGD", {"lr": 0.1, "momentum": -0.5}, "momentum"),
    ("SGD", {"lr": 0.1, "weight_decay": -1e-3}, "weight_decay"),
    ("SGD", {"lr": 0.1, "nesterov": True}, "nesterov"),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "nesterov": True}, "nesterov"),
    ("Adagrad", {"lr": -0.1}, "lr"),
    ("Adagrad", {"lr_decay": -0.1}, "lr_decay"),
    ("Adagrad", {"weight_decay": -0.1}, "weight_decay"),
    ("Adagrad", {"initial_accumulator_value": -0.1}, "initial_accumulator_value"),
    ("Adagrad", {"eps": -1e-10}, "eps"),
    ("RMSprop", {"lr": -0.1}, "lr"),
    ("RMSprop", {"alpha": -0.1}, "alpha"),
    ("RMSprop", {"eps": -1e-8}, "eps"),
    ("RMSprop", {"weight_decay": -0.1}, "weight_decay"),
    ("RMSprop", {"momentum": -0.1}, "momentum"),
    ("Adam", {"lr": -0.1}, "lr"),
    ("Adam", {"eps": -1e-8}, "eps"),
    ("Adam", {"betas": (1.0, 0.999)}, "betas"),
    ("Adam", {"betas": (-0.1, 0.999)}, "betas"),
    ("Adam", {"betas": (0.9, 1.0)}, "betas"),
    ("Adam", {"weight_decay": -0.1}, "weight_decay"),
    ("AdamW", {"lr": -0.1}, "lr"),
    ("AdamW", {"eps": -1e-8}, "eps"),
    ("AdamW", {"betas": (0.9, 1.5)}, "betas"),
    ("AdamW", {"weight_decay": -0.1}, "weight_decay"),
]


@pytest.mark.parametrize(
    ("name", "kwargs", "arg"), INVALID, ids=[f"{c[0]}-{c[1]}" for c in INVALID]
)
def test_invalid_hyperparameters_raise_like_torch(name, kwargs, arg):
    params = [torch.nn.Parameter(torch.zeros(3))]
    with pytest.raises(ValueError):
        getattr(torch.optim, name)(params, **kwargs)
    with pytest.raises(ValueError, match=rf"\b{re.escape(arg)}\b"):
        getattr(ours, name)(params, **kwargs)


@pytest.mark.parametrize(
    ("name", "kwargs", "arg"),
    [
        ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 1.5}, "dampening"),
        ("RMSprop", {"alpha": 1.5}, "alpha"),
        ("Adam", {"betas": (0.9, 0.99, 0.9)}, "betas"),
    ],
)
def test_values_torch_accepts_but_we_reject(name, kwargs, arg):
    with pytest.raises(ValueError, match=rf"\b{arg}\b"):
        getattr(ours, name)([torch.nn.Parameter(torch.zeros(3))], **kwargs)


@pytest.mark.parametrize("name", CLASSES)
def test_a_group_own_hyperparameters_are_validated(name):
    w, b = torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(1))
    with pytest.raises(ValueError, match=r"\blr\b"):
        getattr(ours, name)([{"params": [w]}, {"params": [b], "lr": -1.0}])


@pytest.mark.parametrize("name", CLASSES)
def test_defaults_equal_torch(name):
    w = [torch.nn.Parameter(torch.zeros(3))]
    ours_defaults = getattr(ours, name)(w).defaults
    torch_defaults = getattr(torch.optim, name)(w).defaults
    for key, value in ours_defaults.items():
        assert torch_defaults[key] == value, key
