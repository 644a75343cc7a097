"""Initialization: the formulas against torch.nn.init's, the weights they draw, the symmetry
of zero initialization, variance propagation through 20 layers, and the layer statistics
against a backward pass written out by hand."""

import doctest
import math
import pickle
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import dlopt_lab.initialization as ini
from dlopt_lab.initialization import (
    LayerStats,
    he_std,
    init_mlp,
    layer_statistics,
    make_mlp,
    xavier_std,
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small matrices: one thread is faster than two that spin against each other (and against
    other processes) on a shared 2-core machine. Restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --------------------------------------------------------------------------------------------
# The formulas, against torch.nn.init
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(10, 30), (256, 64), (1, 1), (1000, 3)])
def test_formulas_equal_torch_documented_ones(shape):
    w = torch.empty(shape)
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(w)
    assert (fan_out, fan_in) == shape
    # torch: xavier_normal_ std = gain * sqrt(2 / (fan_in + fan_out))
    for nonlinearity in ("linear", "tanh", "relu"):
        gain = torch.nn.init.calculate_gain(nonlinearity)
        assert xavier_std(fan_in, fan_out, gain) == pytest.approx(
            gain * math.sqrt(2.0 / float(fan_in + fan_out)), rel=1e-15)
    # torch: kaiming_normal_ std = gain / sqrt(fan), gain("relu") = sqrt(2)
    assert he_std(fan_in) == pytest.approx(
        torch.nn.init.calculate_gain("relu") / math.sqrt(fan_in), rel=1e-15)
    assert he_std(fan_in) == pytest.approx(math.sqrt(2.0 / fan_in), rel=1e-15)
    assert he_std(fan_in, gain=1.0) == pytest.approx(1 / math.sqrt(fan_in), rel=1e-15)


def _weight_stds(scheme, shape, **kw):
    """Empirical std of our weights and of torch.nn.init's on a same-shaped tensor."""
    layer = nn.Linear(shape[1], shape[0])
    init_mlp(layer, scheme, generator=torch.Generator().manual_seed(0), **kw)
    ref = torch.empty(shape)
    torch.manual_seed(0)
    if scheme == "xavier":
        torch.nn.init.xavier_normal_(ref)
    else:
        torch.nn.init.kaiming_normal_(ref, mode="fan_in", nonlinearity="relu")
    return float(layer.weight.detach().std()), float(ref.std()), layer


@pytest.mark.parametrize("scheme", ["xavier", "he"])
def test_drawn_weights_have_the_std_of_the_formula_and_of_torch(scheme):
    shape = (512, 1024)  # 524,288 weights: the sample std is within 0.1% (one standard error)
    ours, theirs, layer = _weight_stds(scheme, shape)
    sigma = xavier_std(1024, 512) if scheme == "xavier" else he_std(1024)
    assert ours == pytest.approx(sigma, rel=0.02)
    assert theirs == pytest.approx(sigma, rel=0.02)
    assert ours == pytest.approx(theirs, rel=0.02)
    assert abs(float(layer.weight.detach().mean())) < 5 * sigma / math.sqrt(512 * 1024)
    assert torch.all(layer.bias == 0)


def test_normal_scheme_and_gains():
    layer = nn.Linear(800, 600)
    init_mlp(layer, "normal", std=0.3, generator=torch.Generator().manual_seed(0))
    assert float(layer.weight.detach().std()) == pytest.approx(0.3, rel=0.02)
    init_mlp(layer, "xavier", gain=5 / 3, generator=torch.Generator().manual_seed(0))
    assert float(layer.weight.detach().std()) == pytest.approx(
        5 / 3 * math.sqrt(2 / 1400), rel=0.02)
    init_mlp(layer, "he", gain=1.0, generator=torch.Generator().manual_seed(0))
    assert float(layer.weight.detach().std()) == pytest.approx(1 / math.sqrt(800), rel=0.02)


def test_torch_default_linear_init_is_neither_xavier_nor_he():
    torch.manual_seed(0)
    w = nn.Linear(1024, 512).weight.detach()
    assert float(w.std()) == pytest.approx(1 / math.sqrt(3 * 1024), rel=0.02)  # as documented
    assert float(w.abs().max()) <= 1 / math.sqrt(1024)


def test_init_is_reproducible_with_a_generator_and_touches_only_linear_layers():
    a = make_mlp([8, 16, 16, 3], batch_norm=True)
    b = make_mlp([8, 16, 16, 3], batch_norm=True)
    init_mlp(a, "he", generator=torch.Generator().manual_seed(7))
    init_mlp(b, "he", generator=torch.Generator().manual_seed(7))
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    bn = a[1]
    assert isinstance(bn, nn.BatchNorm1d)
    assert torch.all(bn.weight == 1) and torch.all(bn.bias == 0)
    assert init_mlp(a, "zeros") is a


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_zero_init_leaves_only_the_output_bias_with_a_gradient(activation):
    model = init_mlp(make_mlp([5, 8, 8, 8, 3], activation), "zeros")
    X = torch.randn(32, 5, generator=torch.Generator().manual_seed(0))
    y = (torch.arange(32) % 4).clamp(max=2)  # class frequencies 1/4, 1/4, 1/2
    F.cross_entropy(model(X), y).backward()
    linears = [m for m in model if isinstance(m, nn.Linear)]
    for layer in linears[:-1]:  # symmetric hidden units: no gradient at all
        assert torch.all(layer.weight.grad == 0) and torch.all(layer.bias.grad == 0)
    # the output layer sees h = phi(0) = 0, so its weights get no gradient either ...
    assert torch.all(linears[-1].weight.grad == 0)
    # ... and only its bias learns: dL/db = softmax(0) - frequencies = 1/3 - (1/4, 1/4, 1/2)
    torch.testing.assert_close(linears[-1].bias.grad, torch.tensor([1, 1, -2]) / 12)


def test_constant_init_makes_hidden_units_identical():
    model = make_mlp([5, 8, 3], "tanh")
    with torch.no_grad():
        for m in model:
            if isinstance(m, nn.Linear):
                m.weight.fill_(0.1)
                m.bias.zero_()
    X = torch.randn(16, 5, generator=torch.Generator().manual_seed(0))
    F.cross_entropy(model(X), torch.arange(16) % 3).backward()
    g = model[0].weight.grad
    assert g.abs().max() > 0 and torch.allclose(g, g[:1].expand_as(g))  # every row the same


# --------------------------------------------------------------------------------------------
# make_mlp
# --------------------------------------------------------------------------------------------


def test_make_mlp_structure():
    m = make_mlp([4, 6, 6, 2], "tanh", layer_norm=True)
    kinds = [type(x) for x in m]
    assert kinds == [nn.Linear, nn.LayerNorm, nn.Tanh, nn.Linear, nn.LayerNorm, nn.Tanh,
                     nn.Linear]
    assert [(x.in_features, x.out_features) for x in m if isinstance(x, nn.Linear)] == [
        (4, 6), (6, 6), (6, 2)]
    m = make_mlp([4, 6, 2], batch_norm=True)
    assert [type(x) for x in m] == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear]
    assert [type(x) for x in make_mlp([3, 1], "sigmoid")] == [nn.Linear]
    assert [type(x) for x in make_mlp([3, 4, 1], "identity")] == [nn.Linear, nn.Identity,
                                                                 nn.Linear]


def test_residual_blocks_add_their_input():
    model = make_mlp([4, 8, 8, 8, 2], residual=True)
    Residual = ini.Residual
    kinds = [type(x) for x in model]
    assert kinds == [nn.Linear, nn.ReLU, Residual, Residual, nn.Linear]  # 4 -> 8 cannot skip
    block = model[2]
    x = torch.randn(5, 8)
    torch.testing.assert_close(block(x), x + F.relu(block.body[0](x)))
    assert pickle.loads(pickle.dumps(block)).__class__ is Residual
    assert ini.Residual is Residual  # defined once


def test_make_mlp_errors():
    with pytest.raises(ValueError, match=r"^Invalid widths: \[3\]"):
        make_mlp([3])
    with pytest.raises(ValueError, match=r"^Invalid widths\[1\]: 0 \(must be an integer >= 1\)"):
        make_mlp([3, 0, 2])
    with pytest.raises(ValueError, match=r"^Invalid activation: 'gelu' \(must be one of relu"):
        make_mlp([3, 2], "gelu")
    with pytest.raises(ValueError, match="choose at most one normalization"):
        make_mlp([3, 2], batch_norm=True, layer_norm=True)


def test_init_errors():
    layer = nn.Linear(3, 2)
    with pytest.raises(ValueError, match=r"^Invalid scheme: 'kaiming' \(must be one of zeros"):
        init_mlp(layer, "kaiming")
    with pytest.raises(ValueError, match=r"^Invalid std: None"):
        init_mlp(layer, "normal")
    with pytest.raises(ValueError, match=r"^Invalid std: 1.0"):
        init_mlp(layer, "he", std=1.0)
    with pytest.raises(ValueError, match=r"^Invalid std: -1 \(must be > 0\)"):
        init_mlp(layer, "normal", std=-1.0)
    with pytest.raises(ValueError, match=r"^Invalid gain"):
        init_mlp(layer, "normal", std=1.0, gain=2.0)
    with pytest.raises(ValueError, match="has no torch.nn.Linear layers"):
        init_mlp(nn.ReLU(), "he")
    with pytest.raises(ValueError, match=r"^Invalid fan_in: 0"):
        he_std(0)
    with pytest.raises(ValueError, match=r"^Invalid gain: 0 \(must be > 0\)"):
        xavier_std(3, 4, gain=0.0)


# --------------------------------------------------------------------------------------------
# Variance propagation through 20 layers
# --------------------------------------------------------------------------------------------


def _deep_stats(activation, scheme, seed=0, **kw):
    torch.manual_seed(seed)
    model = make_mlp([256] * 21 + [10], activation).double()
    init_mlp(model, scheme, generator=torch.Generator().manual_seed(seed), **kw)
    gen = torch.Generator().manual_seed(100 + seed)
    X = torch.randn(128, 256, dtype=torch.float64, generator=gen)
    y = torch.randint(0, 10, (128,), generator=gen)
    stats = layer_statistics(model, X, y)
    hidden = stats[:-1]  # the 20 hidden layers
    return ([s.preact_var for s in hidden], [s.act_var for s in hidden],
            [s.preact_grad_var for s in hidden])


@pytest.mark.parametrize("activation, scheme", [("relu", "he"), ("identity", "xavier")])
def test_he_and_xavier_keep_variances_constant_over_20_layers(activation, scheme):
    # At finite width n the log of the variance after L layers is itself random, with a
    # standard deviation of about sqrt(5 L / n) = 0.6 for ReLU (Hanin 2018): one network can be
    # off by a factor 2. The geometric mean over 8 networks is off by e^0.2 typically.
    log_ratios = []
    for seed in range(8):
        pre, act, grad = _deep_stats(activation, scheme, seed)
        assert len(pre) == 20
        expected_first = 2.0 if activation == "relu" else 1.0  # n sigma^2 Var(x), Var(x) = 1
        assert pre[0] == pytest.approx(expected_first, rel=0.1)
        log_ratios.append([math.log(series[-1] / series[0]) for series in (pre, act, grad)])
        assert all(abs(r) < math.log(4) for r in log_ratios[-1])  # no single one explodes
    mean = torch.tensor(log_ratios).mean(0)
    assert torch.all(mean.abs() < math.log(2)), mean  # last / first within a factor 2


def test_std_1_explodes_and_std_001_vanishes():
    pre, act, grad = _deep_stats("relu", "normal", std=1.0)
    # each layer multiplies the variance by n sigma^2 / 2 = 128: 19 layers, about 1e40
    assert pre[-1] / pre[0] > 1e30 and act[-1] / act[0] > 1e30
    assert grad[0] / grad[-1] > 1e30  # gradients explode towards the input
    pre, act, grad = _deep_stats("relu", "normal", std=0.01)
    # factor 256 * 1e-4 / 2 = 0.0128 per layer
    assert pre[-1] / pre[0] < 1e-30 and act[-1] / act[0] < 1e-30
    assert grad[0] / grad[-1] < 1e-30  # and vanish towards the input


# --------------------------------------------------------------------------------------------
# layer_statistics against a forward and backward pass written out by hand
# --------------------------------------------------------------------------------------------


def _var(t):
    return float(((t - t.mean()) ** 2).mean())


def test_layer_statistics_equal_a_backward_pass_by_hand():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3)).double()
    gen = torch.Generator().manual_seed(1)
    X = torch.randn(40, 6, dtype=torch.float64, generator=gen)
    y = torch.randint(0, 3, (40,), generator=gen)
    W1, b1, W2, b2 = (p.detach() for p in model.parameters())
    z1 = X @ W1.T + b1
    h1 = torch.tanh(z1)
    z2 = h1 @ W2.T + b2
    # cross-entropy, mean over the batch: dL/dz2 = (softmax(z2) - onehot(y)) / N
    g2 = (torch.softmax(z2, dim=1) - F.one_hot(y, 3)) / len(y)
    dW2 = g2.T @ h1
    g1 = (g2 @ W2) * (1 - h1 ** 2)  # tanh' = 1 - tanh^2
    dW1 = g1.T @ X
    s1, s2 = layer_statistics(model, X, y)
    assert isinstance(s1, LayerStats)
    assert (s1.index, s1.name, s1.fan_in, s1.fan_out) == (0, "0", 6, 5)
    assert (s2.index, s2.name, s2.fan_in, s2.fan_out) == (1, "2", 5, 3)
    for got, want in [(s1.preact_var, _var(z1)), (s1.act_var, _var(h1)),
                      (s2.preact_var, _var(z2)), (s1.preact_grad_var, _var(g1)),
                      (s2.preact_grad_var, _var(g2)), (s1.weight_grad_var, _var(dW1)),
                      (s2.weight_grad_var, _var(dW2))]:
        assert got == pytest.approx(want, rel=1e-10)
    assert math.isnan(s2.act_var)  # nothing after the output layer
    assert all(p.grad is None for p in model.parameters())  # .grad untouched


def test_layer_statistics_without_labels_and_with_a_loss():
    model = make_mlp([4, 6, 6, 1], "tanh", residual=True).double()
    X = torch.randn(30, 4, dtype=torch.float64)
    stats = layer_statistics(model, X)
    assert [s.name for s in stats] == ["0", "2.body.0", "3"]
    assert all(math.isnan(s.preact_grad_var) and math.isnan(s.weight_grad_var) for s in stats)
    # the activation of the residual layer is the branch's tanh, not the sum
    with torch.no_grad():
        h0 = torch.tanh(model[0](X))
        branch = torch.tanh(model[2].body[0](h0))
    assert stats[1].act_var == pytest.approx(_var(branch), rel=1e-10)
    y = torch.randn(30, 1, dtype=torch.float64)
    stats = layer_statistics(model, X, y, loss_fn=F.mse_loss)
    assert all(s.preact_grad_var > 0 for s in stats)


def test_layer_statistics_errors():
    with pytest.raises(ValueError, match="in-place activations"):
        layer_statistics(nn.Sequential(nn.Linear(2, 2), nn.ReLU(inplace=True)), torch.randn(3, 2))
    unused = nn.ModuleDict({"a": nn.Linear(2, 2), "b": nn.Linear(2, 2)})
    unused.forward = lambda x: unused["a"](x)
    with pytest.raises(ValueError, match=r"did not use the linear layers \['b'\]"):
        layer_statistics(unused, torch.randn(3, 2))


# --------------------------------------------------------------------------------------------
# The module
# --------------------------------------------------------------------------------------------


def test_doctests_pass():
    result = doctest.testmod(ini, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted > 0 and result.failed == 0


def test_import_does_not_load_torch():
    code = "import sys, dlopt_lab.initialization; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
