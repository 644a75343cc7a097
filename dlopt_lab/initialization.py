"""Initialization and normalization: how large the first weights should be, and what a deep
network does to the variance of its signals and gradients, layer by layer.

* :func:`xavier_std`, :func:`he_std`: the standard deviations of Glorot & Bengio (2010) and
  He et al. (2015).
* :func:`init_mlp`: initialize every ``nn.Linear`` of a model by one scheme
  (``"zeros"``, ``"normal"``, ``"xavier"``, ``"he"``), biases zero.
* :func:`make_mlp`: a deep MLP in one line, optionally with BatchNorm or LayerNorm and
  residual connections.
* :func:`layer_statistics`: one :class:`LayerStats` per linear layer, with the variances of its
  pre-activations, activations and gradients, for plots against depth.

Importing this module does not import torch.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlopt_lab.optim.functional import check_hparam

__all__ = [
    "LayerStats",
    "he_std",
    "init_mlp",
    "layer_statistics",
    "make_mlp",
    "xavier_std",
]

SCHEMES = ("zeros", "normal", "xavier", "he")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "identity")


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"Invalid {name}: {value!r} (must be an integer >= {low})")
    return int(value)


# --------------------------------------------------------------------------------------------
# The formulas
# --------------------------------------------------------------------------------------------


def xavier_std(fan_in: int, fan_out: int, gain: float = 1.0) -> float:
    r"""The standard deviation of Xavier (Glorot) initialization.

    Symbols: fan-in :math:`n_\text{in}` (inputs of the layer), fan-out :math:`n_\text{out}`
    (its outputs), gain :math:`g`.

    .. math::

        \sigma = g\,\sqrt{\frac{2}{n_\text{in} + n_\text{out}}}

    A linear layer multiplies the variance of its input by :math:`n_\text{in}\sigma^2` on the
    way forward and the variance of the gradient by :math:`n_\text{out}\sigma^2` on the way
    back; this :math:`\sigma` is the compromise between making either factor 1.

    Conventions: the same formula as ``torch.nn.init.xavier_normal_``; its gain for tanh is
    ``calculate_gain("tanh") = 5/3``. ``xavier_uniform_`` draws from
    :math:`U(-\sqrt3\sigma, \sqrt3\sigma)`, which has this standard deviation too.

    Example:
        >>> xavier_std(300, 100)
        0.07071067811865475

    References: Glorot & Bengio, "Understanding the difficulty of training deep feedforward
    neural networks" (AISTATS 2010).
    """
    fan_in, fan_out = _check_int("fan_in", fan_in, 1), _check_int("fan_out", fan_out, 1)
    gain = check_hparam("gain", gain, low=0.0, low_open=True)
    return gain * math.sqrt(2.0 / (fan_in + fan_out))


def he_std(fan_in: int, gain: float = math.sqrt(2.0)) -> float:
    r"""The standard deviation of He (Kaiming) initialization, for ReLU networks by default.

    Symbols: fan-in :math:`n_\text{in}`, gain :math:`g` (:math:`\sqrt2` for ReLU).

    .. math::

        \sigma = \frac{g}{\sqrt{n_\text{in}}}, \qquad
        \sigma_\text{ReLU} = \sqrt{\frac{2}{n_\text{in}}}

    A ReLU zeroes half of a symmetric pre-activation, so it halves its second moment; the
    gain :math:`\sqrt2` doubles it back, and the variance of the pre-activations stays the same
    from layer to layer.

    Conventions: ``torch.nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu")``.
    With ``gain=1`` this is LeCun's :math:`1/\sqrt{n_\text{in}}`, right for linear layers.
    (torch's own default for ``nn.Linear`` is neither: :math:`U(-1/\sqrt{n_\text{in}},
    1/\sqrt{n_\text{in}})`, a standard deviation of :math:`1/\sqrt{3 n_\text{in}}`.)

    Example:
        >>> he_std(200)
        0.1

    References: He, Zhang, Ren & Sun, "Delving deep into rectifiers" (ICCV 2015).
    """
    fan_in = _check_int("fan_in", fan_in, 1)
    gain = check_hparam("gain", gain, low=0.0, low_open=True)
    return gain / math.sqrt(fan_in)


# --------------------------------------------------------------------------------------------
# Building and initializing MLPs
# --------------------------------------------------------------------------------------------


def _linear_layers(model: Any) -> list[tuple[str, Any]]:
    """``(name, module)`` of every ``nn.Linear`` in ``model``, in registration order."""
    import torch

    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    if not layers:
        raise ValueError("model has no torch.nn.Linear layers")
    return layers


def init_mlp(
    model: Any,
    scheme: str,
    *,
    std: float | None = None,
    gain: float | None = None,
    generator: Any = None,
) -> Any:
    r"""Initialize the weights of every ``nn.Linear`` in ``model`` by ``scheme``; biases to 0.

    Symbols: weight :math:`W \in \mathbb R^{n_\text{out} \times n_\text{in}}`.

    .. math::

        W_{ij} \sim \begin{cases}
            0 & \texttt{"zeros"}\\
            \mathcal N(0, \sigma^2),\ \sigma = \texttt{std} & \texttt{"normal"}\\
            \mathcal N(0, \sigma^2),\ \sigma = \operatorname{xavier\_std}(n_\text{in},
                n_\text{out}, g) & \texttt{"xavier"}\\
            \mathcal N(0, \sigma^2),\ \sigma = \operatorname{he\_std}(n_\text{in}, g)
                & \texttt{"he"}
        \end{cases}

    Args:
        scheme: ``"zeros"``, ``"normal"`` (needs ``std``), ``"xavier"`` or ``"he"``.
        std: the standard deviation of ``"normal"``, e.g. ``1.0`` (activations explode in a
            deep net) or ``0.01`` (they vanish).
        gain: :math:`g` of ``"xavier"`` (default 1) or ``"he"`` (default :math:`\sqrt2`).
        generator: a ``torch.Generator`` for reproducible weights (``None``: the global one).

    Returns:
        ``model``, initialized in place. Normalization layers keep their own initialization
        (scale 1, shift 0).

    Conventions: normal distributions throughout, like ``xavier_normal_`` and
    ``kaiming_normal_``; ``"zeros"`` shows the symmetry problem (every hidden unit computes
    the same thing, and with ReLU or tanh every weight gradient is zero).

    Example:
        >>> import torch
        >>> model = init_mlp(torch.nn.Linear(1000, 10), "he",
        ...                  generator=torch.Generator().manual_seed(0))
        >>> round(float(model.weight.detach().std()), 3), round(he_std(1000), 3)
        (0.045, 0.045)
    """
    import torch

    if scheme not in SCHEMES:
        raise ValueError(f"Invalid scheme: {scheme!r} (must be one of {', '.join(SCHEMES)})")
    if (std is not None) != (scheme == "normal"):
        raise ValueError(f"Invalid std: {std!r} (scheme 'normal' needs a std; no other uses one)")
    if gain is not None and scheme not in ("xavier", "he"):
        raise ValueError(f"Invalid gain: {gain!r} (only schemes 'xavier' and 'he' use a gain)")
    if std is not None:
        std = check_hparam("std", std, low=0.0, low_open=True)
    for _, layer in _linear_layers(model):
        fan_out, fan_in = layer.weight.shape
        with torch.no_grad():
            if scheme == "zeros":
                layer.weight.zero_()
            else:
                if scheme == "normal":
                    sigma = std
                elif scheme == "xavier":
                    sigma = xavier_std(fan_in, fan_out, 1.0 if gain is None else gain)
                else:
                    sigma = he_std(fan_in, math.sqrt(2.0) if gain is None else gain)
                layer.weight.normal_(0.0, sigma, generator=generator)
            if layer.bias is not None:
                layer.bias.zero_()
    return model


@functools.cache
def _residual_class() -> type:
    """Define :class:`Residual` on first use, so that importing this module skips torch."""
    import torch

    class Residual(torch.nn.Module):
        r"""A skip connection around ``body``: :math:`x \mapsto x + f(x)`."""

        def __init__(self, body: Any) -> None:
            super().__init__()
            self.body = body

        def forward(self, x: Any) -> Any:
            return x + self.body(x)

    Residual.__qualname__ = "Residual"  # so that pickle finds it as initialization.Residual
    Residual.__module__ = __name__
    return Residual


def __getattr__(name: str) -> Any:
    if name == "Residual":
        return _residual_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_mlp(
    widths: Sequence[int],
    activation: str = "relu",
    *,
    batch_norm: bool = False,
    layer_norm: bool = False,
    residual: bool = False,
) -> Any:
    r"""A multilayer perceptron with the given layer widths, as an ``nn.Sequential``.

    ``widths = [n_0, n_1, ..., n_L]``: ``n_0`` inputs, ``L - 1`` hidden layers, ``n_L``
    outputs (logits; no activation after the last layer). Each hidden layer is

    .. math::

        h_\ell = \phi\big(\operatorname{norm}(W_\ell h_{\ell-1} + b_\ell)\big)
        \qquad\text{or, with } \texttt{residual},\qquad
        h_\ell = h_{\ell-1} + \phi\big(\operatorname{norm}(W_\ell h_{\ell-1} + b_\ell)\big)

    with :math:`\phi` = ``activation`` (``"relu"``, ``"tanh"``, ``"sigmoid"`` or
    ``"identity"``, a deep *linear* network) and norm = BatchNorm (``batch_norm``), LayerNorm
    (``layer_norm``) or nothing. A residual connection needs equal widths, so only the hidden
    layers with :math:`n_{\ell-1} = n_\ell` get one (a ``Residual`` module around the layer).

    Conventions: the order Linear, norm, activation is that of Ioffe & Szegedy (2015). The
    layers keep torch's default initialization; call :func:`init_mlp` to choose one. Without
    a norm, a residual ReLU network adds a non-negative branch to its signal at every layer,
    so the variance of :math:`h_\ell` grows with depth: normalization keeps the branches small.

    Example:
        >>> make_mlp([64, 32, 10], "tanh")
        Sequential(
          (0): Linear(in_features=64, out_features=32, bias=True)
          (1): Tanh()
          (2): Linear(in_features=32, out_features=10, bias=True)
        )

    References: Ioffe & Szegedy (2015), batch normalization; Ba, Kiros & Hinton (2016), layer
    normalization; He, Zhang, Ren & Sun (2016), residual networks.
    """
    import torch.nn as nn

    widths = list(widths) if isinstance(widths, Sequence) else widths
    if not isinstance(widths, list) or len(widths) < 2:
        raise ValueError(f"Invalid widths: {widths!r} (must be a list of at least 2 integers)")
    widths = [_check_int(f"widths[{i}]", w, 1) for i, w in enumerate(widths)]
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"Invalid activation: {activation!r} (must be one of {', '.join(ACTIVATIONS)})"
        )
    if batch_norm and layer_norm:
        raise ValueError("Invalid batch_norm, layer_norm: choose at most one normalization")
    phi = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
           "identity": nn.Identity}[activation]
    layers: list[Any] = []
    for n_in, n_out in zip(widths[:-2], widths[1:-1], strict=False):  # the hidden layers
        block = [nn.Linear(n_in, n_out)]
        if batch_norm:
            block.append(nn.BatchNorm1d(n_out))
        if layer_norm:
            block.append(nn.LayerNorm(n_out))
        block.append(phi())
        if residual and n_in == n_out:
            layers.append(_residual_class()(nn.Sequential(*block)))
        else:
            layers.extend(block)
    layers.append(nn.Linear(widths[-2], widths[-1]))  # the output layer: logits
    return nn.Sequential(*layers)


# --------------------------------------------------------------------------------------------
# Measuring: variances layer by layer
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerStats:
    r"""Variances measured at one ``nn.Linear`` layer :math:`z = W h + b` of a model.

    Each is the variance of all entries (examples × units), dividing by their number:

    * ``preact_var``: of the layer's output :math:`z` (the pre-activation);
    * ``act_var``: of the output of the first activation module that runs after the layer
      (before the next linear layer); ``nan`` when there is none (the output layer);
    * ``preact_grad_var``: of :math:`\partial L / \partial z` (``nan`` without labels);
    * ``weight_grad_var``: of :math:`\partial L / \partial W` (``nan`` without labels).

    The loss :math:`L` is a mean over the batch, so the gradients carry a factor
    :math:`1/N`; compare layers with each other, not runs with different batch sizes.
    """

    index: int
    name: str
    fan_in: int
    fan_out: int
    preact_var: float
    act_var: float
    preact_grad_var: float = math.nan
    weight_grad_var: float = math.nan


def _is_activation(module: Any) -> bool:
    """A module from ``torch.nn``'s activation module (ReLU, Tanh, ...), or ``nn.Identity``."""
    import torch

    return (type(module).__module__ == "torch.nn.modules.activation"
            or isinstance(module, torch.nn.Identity))


def layer_statistics(
    model: Any,
    X: Any,
    y: Any = None,
    loss_fn: Callable[..., Any] | None = None,
) -> list[LayerStats]:
    """One forward pass (and, given labels ``y``, one backward pass) with every variance recorded.

    Forward hooks on each ``nn.Linear`` record its output and on each activation module its
    output; with ``y``, ``torch.autograd.grad`` of ``loss_fn(model(X), y)`` (default:
    cross-entropy) gives the gradients with respect to every layer's output and weight. The
    parameters' ``.grad`` are left untouched.

    Returns:
        a list of :class:`LayerStats`, one per ``nn.Linear`` in the order they are registered
        (for :func:`make_mlp`, input to output).

    Conventions: the model runs in its current mode; in training mode BatchNorm uses the
    batch's statistics (and updates its running averages, as a training step would).
    Activations are seen only as modules (``nn.ReLU()``, not ``F.relu``), and not in place
    (``nn.ReLU(inplace=True)`` would overwrite the pre-activations being measured).

    Example:
        >>> import torch
        >>> model = init_mlp(make_mlp([100] * 6 + [10]), "he",
        ...                  generator=torch.Generator().manual_seed(0))
        >>> X = torch.randn(500, 100, generator=torch.Generator().manual_seed(1))
        >>> [round(s.preact_var, 1) for s in layer_statistics(model, X)]
        [2.0, 2.1, 1.9, 1.8, 1.9, 1.6]
    """
    import torch

    layers = _linear_layers(model)
    if any(getattr(m, "inplace", False) for m in model.modules() if _is_activation(m)):
        raise ValueError("model has in-place activations (inplace=True); they cannot be measured")
    outputs: dict[int, Any] = {}  # layer index -> its output z
    act_var: dict[int, float] = {}
    last = [-1]  # the index of the linear layer that ran last

    def on_linear(i: int) -> Callable[..., None]:
        def hook(module: Any, inputs: Any, output: Any) -> None:
            outputs[i], last[0] = output, i

        return hook

    def on_activation(module: Any, inputs: Any, output: Any) -> None:
        if last[0] >= 0 and last[0] not in act_var:
            act_var[last[0]] = float(output.detach().var(correction=0))

    handles = [m.register_forward_hook(on_linear(i)) for i, (_, m) in enumerate(layers)]
    handles += [m.register_forward_hook(on_activation) for m in model.modules()
                if _is_activation(m)]
    try:
        with torch.set_grad_enabled(y is not None):
            out = model(X)
    finally:
        for h in handles:
            h.remove()
    missing = [name for i, (name, _) in enumerate(layers) if i not in outputs]
    if missing:
        raise ValueError(f"the forward pass did not use the linear layers {missing}")
    L = len(layers)
    grad_var = [math.nan] * (2 * L)
    if y is not None:
        loss = (torch.nn.functional.cross_entropy if loss_fn is None else loss_fn)(out, y)
        wrt = [m.weight for _, m in layers] + [outputs[i] for i in range(L)]
        grads = torch.autograd.grad(loss, wrt, allow_unused=True)
        grad_var = [math.nan if g is None else float(g.var(correction=0)) for g in grads]
    return [
        LayerStats(
            index=i, name=name, fan_in=m.in_features, fan_out=m.out_features,
            preact_var=float(outputs[i].detach().var(correction=0)),
            act_var=act_var.get(i, math.nan),
            preact_grad_var=grad_var[L + i],
            weight_grad_var=grad_var[i],
        )
        for i, (name, m) in enumerate(layers)
    ]
