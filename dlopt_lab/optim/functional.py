"""Update rules as pure functions: one formula, one place.

Each rule comes in three pieces, in the style of optax:

* a state tuple (``SGDState``, ``AdamState(t, m, v, v_max)``), the rule's memory between
  steps, always visible;
* ``<rule>_init(param) -> state``;
* ``<rule>_step(param, grad, state, *, hyper-parameters) -> (new_param, new_state)``,
  a pure function: it never modifies its inputs, and it works on NumPy arrays and torch
  tensors alike, so the same lines drive a 2-D explorer in NumPy and a
  ``torch.optim.Optimizer`` on a network.

``sgd(lr=...)``, ``adam(...)`` and friends validate the hyper-parameters once and bind them
into an :class:`UpdateRule`, the object that :func:`dlopt_lab.trajectories.run` accepts.

How a rule is written, and why. Each ``_step`` updates arrays that it owns, in place: by
default it first copies ``param`` and the state's arrays, so the caller's arrays are never
touched (pure). With ``inplace=True`` it skips the copies and overwrites ``param`` and the
state's arrays, which the caller must own; the ``torch.optim`` classes use this mode, and
nothing else does. The formula is the same in both modes: there is one copy of it.

The arithmetic is ``+ - * /`` and ``**``, plus a few private helpers, each a line for torch
and a line for NumPy: ``_sqrt``, ``_maximum_``, and the fused operations ``_add``,
``_addcmul`` and ``_add_``, ``_addcmul_``, ``_addcdiv_``, ``_lerp_``. The fused ones are the
torch methods of the same names (on NumPy, the arithmetic they stand for, e.g.
``_addcmul(x, y, z, value)`` is ``x + value * y * z``); a trailing ``_`` means, as in torch,
that the result is written into the first argument. Each line that uses one carries the
equation it implements. They are there for speed: written with operators alone, a step
allocates a temporary array for almost every operation, and on a 1M-parameter MLP the
classes built on that version took 1.6 to 3 times as long as ``torch.optim`` (measured while
writing this module); with the fused helpers a step makes the same passes over memory as
``torch.optim``'s own for-loop (``bench/bench_optim.py`` times them). Using
the same operations in the same order also makes the classes agree with ``torch.optim`` to
the last bit (in every configuration that ``tests/test_optim_classes.py`` tries).

Importing this module does not import torch: a tensor is recognised by its type's module.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np

Array = Any  # a NumPy array or a torch tensor (or a float); the rules run on all of them

__all__ = [
    "AdagradState",
    "AdamState",
    "Array",
    "RMSpropState",
    "SGDState",
    "UpdateRule",
    "adagrad",
    "adagrad_init",
    "adagrad_step",
    "adam",
    "adam_init",
    "adam_step",
    "adamw",
    "check_hparam",
    "rmsprop",
    "rmsprop_init",
    "rmsprop_step",
    "sgd",
    "sgd_init",
    "sgd_step",
]


@dataclass(frozen=True)
class UpdateRule:
    """An update rule with its hyper-parameters bound.

    ``init(param)`` makes the first state; ``step(param, grad, state)`` returns
    ``(new_param, new_state)`` (``step(..., inplace=True)`` may overwrite ``param`` and the
    state's arrays instead, see the module docstring). ``hparams`` records the bound values,
    for labels and plots.
    """

    name: str
    init: Callable[[Array], Any]
    step: Callable[..., tuple[Array, Any]]
    hparams: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hparams.items())
        return f"{self.name}({args})"


def _check_real(name: str, value: Any) -> float:
    """Return ``value`` as a float, or raise a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"Invalid {name}: {value!r} (expected a real number)")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"Invalid {name}: {value} (expected a finite number)")
    return value


def check_hparam(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Validate one hyper-parameter at the boundary and return it as a float.

    ``low``/``high`` bound it, closed unless ``low_open``/``high_open``. The error names the
    argument and the allowed range, e.g. ``Invalid momentum: -0.1 (must be >= 0)``.
    """
    x = _check_real(name, value)
    too_low = low is not None and (x <= low if low_open else x < low)
    too_high = high is not None and (x >= high if high_open else x > high)
    if too_low or too_high:
        if low is not None and high is not None:
            rng = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        elif low is not None:
            rng = f"{'>' if low_open else '>='} {low:g}"
        else:
            rng = f"{'<' if high_open else '<='} {high:g}"
        raise ValueError(f"Invalid {name}: {x:g} (must be {rng})")
    return x


# --------------------------------------------------------------------------------------------
# The arithmetic that NumPy and torch do not spell alike: one line each
# --------------------------------------------------------------------------------------------


def _is_torch(x: Array) -> bool:
    return type(x).__module__.startswith("torch")


def _copy(x: Array | None) -> Array | None:
    """A copy the rule may overwrite; NumPy integers and Python numbers become float arrays."""
    if x is None:
        return None
    if _is_torch(x):
        return x.clone()
    x = np.asarray(x)
    return x.astype(x.dtype if x.dtype.kind in "fc" else np.float64)


def _zeros_like(x: Array) -> Array:
    if _is_torch(x):
        import torch  # already imported by whoever made the tensor

        return torch.zeros_like(x)
    x = np.asarray(x)
    return np.zeros_like(x, dtype=x.dtype if x.dtype.kind in "fc" else np.float64)


def _sqrt(x: Array) -> Array:
    return x.sqrt() if _is_torch(x) else np.sqrt(x)


def _maximum_(x: Array, y: Array) -> Array:
    """max(x, y) elementwise, written into x."""
    if _is_torch(x):
        import torch

        return torch.maximum(x, y, out=x)
    return np.maximum(x, y, out=x) if isinstance(x, np.ndarray) else np.maximum(x, y)


def _add(x: Array, y: Array, alpha: float) -> Array:
    """x + alpha y, a new array."""
    return x.add(y, alpha=alpha) if _is_torch(x) else x + alpha * y


def _addcmul(x: Array, y: Array, z: Array, value: float) -> Array:
    """x + value y z, a new array."""
    return x.addcmul(y, z, value=value) if _is_torch(x) else x + value * y * z


def _add_(x: Array, y: Array, alpha: float) -> Array:
    """x + alpha y, written into x."""
    if _is_torch(x):
        return x.add_(y, alpha=alpha)
    x += alpha * y
    return x


def _addcmul_(x: Array, y: Array, z: Array, value: float) -> Array:
    """x + value y z, written into x."""
    if _is_torch(x):
        return x.addcmul_(y, z, value=value)
    x += value * y * z
    return x


def _addcdiv_(x: Array, y: Array, z: Array, value: float) -> Array:
    """x + value y / z, written into x."""
    if _is_torch(x):
        return x.addcdiv_(y, z, value=value)
    x += value * y / z
    return x


def _lerp_(x: Array, y: Array, weight: float) -> Array:
    """x + weight (y - x) = (1 - weight) x + weight y, written into x."""
    if _is_torch(x):
        return x.lerp_(y, weight)
    x += weight * (y - x)
    return x


# --------------------------------------------------------------------------------------------
# SGD, with momentum and Nesterov
# --------------------------------------------------------------------------------------------


class SGDState(NamedTuple):
    """State of SGD: the momentum buffer ``b``, ``None`` before the first step.

    PyTorch starts the buffer at the first gradient (``b_1 = g_1``), not at zero; so do we.
    """

    momentum_buffer: Array | None = None


def sgd_init(param: Array) -> SGDState:
    """The state before the first step: no momentum buffer yet."""
    return SGDState(momentum_buffer=None)


def sgd_step(
    param: Array,
    grad: Array,
    state: SGDState,
    *,
    lr: float,
    momentum: float = 0.0,
    dampening: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
    maximize: bool = False,
    inplace: bool = False,
) -> tuple[Array, SGDState]:
    r"""One step of (stochastic) gradient descent, with optional momentum, as torch.optim.SGD.

    Symbols: parameters :math:`\theta`, gradient :math:`g`, learning rate :math:`\eta`,
    momentum :math:`\mu`, dampening :math:`\tau`, weight decay :math:`\lambda`,
    momentum buffer :math:`b`.

    .. math::

        g_t &\leftarrow g_t + \lambda\,\theta_{t-1}
            &&\text{(L2 weight decay, folded into the gradient)}\\
        b_t &\leftarrow \begin{cases} g_t & t = 1\\
                        \mu\, b_{t-1} + (1-\tau)\, g_t & t > 1 \end{cases}\\
        d_t &\leftarrow \begin{cases} g_t + \mu\, b_t & \text{Nesterov}\\
                        b_t & \text{otherwise} \end{cases}\\
        \theta_t &\leftarrow \theta_{t-1} - \eta\, d_t

    Without momentum (:math:`\mu = 0`) this is plain gradient descent,
    :math:`\theta_t = \theta_{t-1} - \eta\, g_t`. With ``maximize``, :math:`g` is the negated
    gradient (ascent).

    Conventions: this is PyTorch's form, :math:`b \leftarrow \mu b + g`, in which the learning
    rate multiplies the whole buffer. Sutskever et al. (2013) write
    :math:`v \leftarrow \mu v - \eta g`; with a constant :math:`\eta` the two give the same
    iterates. The "moving average" form :math:`b \leftarrow \beta b + (1-\beta) g` is
    ``dampening = momentum`` here, and needs a learning rate :math:`1/(1-\beta)` times larger
    to take the same steps.

    Example:
        >>> import numpy as np
        >>> theta, state = np.array([1.0, -2.0]), sgd_init(None)
        >>> theta, state = sgd_step(theta, 2 * theta, state, lr=0.25)
        >>> theta
        array([ 0.5, -1. ])

    References: Robbins & Monro (1951); Polyak (1964); Sutskever et al. (2013).
    """
    b = state.momentum_buffer
    if not inplace:
        param, b = _copy(param), _copy(b)
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = _add(g, param, alpha=weight_decay)  # g <- g + lambda theta
    if momentum != 0:
        if b is None:
            b = _copy(g)  # b_1 = g_1
        else:
            b *= momentum
            b = _add_(b, g, alpha=1 - dampening)  # b <- mu b + (1 - tau) g
        g = _add(g, b, alpha=momentum) if nesterov else b  # d = g + mu b, or d = b
    param = _add_(param, g, alpha=-lr)  # theta <- theta - lr d
    return param, SGDState(momentum_buffer=b)


def sgd(
    lr: float,
    momentum: float = 0.0,
    dampening: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
    maximize: bool = False,
) -> UpdateRule:
    """Gradient descent (with optional momentum) as an :class:`UpdateRule`; see :func:`sgd_step`.

    Hyper-parameters are validated here, as ``torch.optim.SGD`` validates them (and
    ``dampening`` must lie in [0, 1], which torch does not check).
    """
    hp = {
        "lr": check_hparam("lr", lr, low=0.0),
        "momentum": check_hparam("momentum", momentum, low=0.0),
        "dampening": check_hparam("dampening", dampening, low=0.0, high=1.0),
        "weight_decay": check_hparam("weight_decay", weight_decay, low=0.0),
        "nesterov": bool(nesterov),
        "maximize": bool(maximize),
    }
    if nesterov and (hp["momentum"] <= 0 or hp["dampening"] != 0):
        raise ValueError(
            "Invalid nesterov: Nesterov momentum requires momentum > 0 and dampening = 0"
        )

    def step(
        param: Array, grad: Array, state: SGDState, inplace: bool = False
    ) -> tuple[Array, SGDState]:
        return sgd_step(param, grad, state, inplace=inplace, **hp)

    return UpdateRule("sgd", sgd_init, step, hp)


# --------------------------------------------------------------------------------------------
# AdaGrad
# --------------------------------------------------------------------------------------------


class AdagradState(NamedTuple):
    """State of AdaGrad: the step count ``t`` and the running sum ``s`` of squared gradients."""

    t: int
    sum: Array


def adagrad_init(param: Array, initial_accumulator_value: float = 0.0) -> AdagradState:
    """The state before the first step: ``t = 0``, ``s = initial_accumulator_value``."""
    return AdagradState(t=0, sum=_zeros_like(param) + initial_accumulator_value)


def adagrad_step(
    param: Array,
    grad: Array,
    state: AdagradState,
    *,
    lr: float = 1e-2,
    lr_decay: float = 0.0,
    weight_decay: float = 0.0,
    eps: float = 1e-10,
    maximize: bool = False,
    inplace: bool = False,
) -> tuple[Array, AdagradState]:
    r"""One step of AdaGrad, as torch.optim.Adagrad: each coordinate gets its own step size.

    Symbols: parameters :math:`\theta`, gradient :math:`g`, learning rate :math:`\eta`,
    learning-rate decay :math:`\delta`, weight decay :math:`\lambda`, sum of squared gradients
    :math:`s` (``state.sum``), step count :math:`t`, and :math:`\epsilon`. Squares, roots and
    quotients are elementwise.

    .. math::

        g_t &\leftarrow g_t + \lambda\,\theta_{t-1}
            &&\text{(L2 weight decay, folded into the gradient)}\\
        \eta_t &\leftarrow \eta \,/\, \bigl(1 + (t-1)\,\delta\bigr)\\
        s_t &\leftarrow s_{t-1} + g_t^2\\
        \theta_t &\leftarrow \theta_{t-1} - \eta_t\, g_t \,/\, \bigl(\sqrt{s_t} + \epsilon\bigr)

    A coordinate that has seen large gradients takes small steps, and every step size only
    shrinks, because :math:`s` only grows.

    Conventions: :math:`\epsilon` is added outside the root, as in PyTorch and in Duchi et al.
    (d2l writes it inside, :math:`\sqrt{s_t + \epsilon}`). The learning-rate decay
    :math:`\eta_t` and the starting value :math:`s_0` (``initial_accumulator_value``, 0 by
    default; TensorFlow uses 0.1) are PyTorch's additions, not the paper's.

    Example:
        >>> import numpy as np
        >>> theta = np.array([1.0, -2.0])
        >>> theta, state = adagrad_step(theta, 2 * theta, adagrad_init(theta), lr=0.5)
        >>> theta  # the first step is lr g / (|g| + eps): lr sign(g), whatever the size of g
        array([ 0.5, -1.5])

    Reference: Duchi, Hazan & Singer (2011), Adaptive subgradient methods for online learning
    and stochastic optimization, JMLR 12.
    """
    s = state.sum
    if not inplace:
        param, s = _copy(param), _copy(s)
    t = state.t + 1
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = _add(g, param, alpha=weight_decay)  # g <- g + lambda theta
    lr_t = lr / (1 + (t - 1) * lr_decay)
    s = _addcmul_(s, g, g, value=1)  # s <- s + g^2
    denom = _sqrt(s)
    denom += eps  # sqrt(s) + eps
    param = _addcdiv_(param, g, denom, value=-lr_t)  # theta <- theta - lr_t g / (sqrt(s) + eps)
    return param, AdagradState(t=t, sum=s)


def adagrad(
    lr: float = 1e-2,
    lr_decay: float = 0.0,
    weight_decay: float = 0.0,
    initial_accumulator_value: float = 0.0,
    eps: float = 1e-10,
    maximize: bool = False,
) -> UpdateRule:
    """AdaGrad as an :class:`UpdateRule`; see :func:`adagrad_step`.

    Hyper-parameters are validated here, as ``torch.optim.Adagrad`` validates them.
    """
    hp = {
        "lr": check_hparam("lr", lr, low=0.0),
        "lr_decay": check_hparam("lr_decay", lr_decay, low=0.0),
        "weight_decay": check_hparam("weight_decay", weight_decay, low=0.0),
        "initial_accumulator_value": check_hparam(
            "initial_accumulator_value", initial_accumulator_value, low=0.0
        ),
        "eps": check_hparam("eps", eps, low=0.0),
        "maximize": bool(maximize),
    }
    step_hp = {k: v for k, v in hp.items() if k != "initial_accumulator_value"}

    def init(param: Array) -> AdagradState:
        return adagrad_init(param, initial_accumulator_value=hp["initial_accumulator_value"])

    def step(
        param: Array, grad: Array, state: AdagradState, inplace: bool = False
    ) -> tuple[Array, AdagradState]:
        return adagrad_step(param, grad, state, inplace=inplace, **step_hp)

    return UpdateRule("adagrad", init, step, hp)


# --------------------------------------------------------------------------------------------
# RMSprop
# --------------------------------------------------------------------------------------------


class RMSpropState(NamedTuple):
    """State of RMSprop: the running mean ``v`` of squared gradients (``square_avg``), the
    momentum buffer ``b`` (``None`` without momentum) and, when centered, the running mean
    ``g_bar`` of the gradients (``grad_avg``, ``None`` otherwise). Buffers start at zero."""

    square_avg: Array
    momentum_buffer: Array | None = None
    grad_avg: Array | None = None


def rmsprop_init(param: Array) -> RMSpropState:
    """The state before the first step: ``v = 0``; the other buffers appear when first needed."""
    return RMSpropState(square_avg=_zeros_like(param))


def rmsprop_step(
    param: Array,
    grad: Array,
    state: RMSpropState,
    *,
    lr: float = 1e-2,
    alpha: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    centered: bool = False,
    maximize: bool = False,
    inplace: bool = False,
) -> tuple[Array, RMSpropState]:
    r"""One step of RMSprop, as torch.optim.RMSprop: AdaGrad with a forgetting sum.

    Symbols: parameters :math:`\theta`, gradient :math:`g`, learning rate :math:`\eta`,
    smoothing constant :math:`\alpha`, weight decay :math:`\lambda`, momentum :math:`\mu`,
    running mean of squared gradients :math:`v`, running mean of gradients :math:`\bar g`,
    momentum buffer :math:`b`, and :math:`\epsilon`. All elementwise; :math:`v`,
    :math:`\bar g` and :math:`b` start at zero.

    .. math::

        g_t &\leftarrow g_t + \lambda\,\theta_{t-1}
            &&\text{(L2 weight decay, folded into the gradient)}\\
        v_t &\leftarrow \alpha\, v_{t-1} + (1-\alpha)\, g_t^2\\
        \bar g_t &\leftarrow \alpha\, \bar g_{t-1} + (1-\alpha)\, g_t
            &&\text{(centered only)}\\
        r_t &\leftarrow \begin{cases} \sqrt{v_t - \bar g_t^2} + \epsilon & \text{centered}\\
                        \sqrt{v_t} + \epsilon & \text{otherwise} \end{cases}\\
        b_t &\leftarrow \mu\, b_{t-1} + g_t / r_t\\
        \theta_t &\leftarrow \theta_{t-1} - \eta\, b_t
            &&\text{(without momentum: } \theta_{t-1} - \eta\, g_t / r_t\text{)}

    Centered RMSprop divides by an estimate of the standard deviation of :math:`g` rather
    than of its root mean square.

    Conventions: :math:`\epsilon` is added outside the root, as in PyTorch (TensorFlow's
    ``RMSPropOptimizer`` adds it inside, :math:`\sqrt{v + \epsilon}`). :math:`v` starts at zero
    and is not bias-corrected, so the first steps are large: the first is
    :math:`\eta\, g / (\sqrt{1-\alpha}\,|g| + \epsilon)`, ten times :math:`\eta` with the
    default :math:`\alpha = 0.99`. With momentum, PyTorch multiplies the buffer by :math:`\eta`
    when it is applied; TensorFlow folds :math:`\eta` into the buffer, which differs only when
    :math:`\eta` changes.

    Example:
        >>> import numpy as np
        >>> theta = np.array([1.0, -2.0])
        >>> theta, state = rmsprop_step(theta, 2 * theta, rmsprop_init(theta), lr=0.01)
        >>> theta  # first step: 10 lr sign(g)
        array([ 0.9, -1.9])

    References: Tieleman & Hinton (2012), Lecture 6.5 of Neural Networks for Machine Learning
    (Coursera); Graves (2013), Generating sequences with recurrent neural networks (centered).
    """
    v, b, g_bar = state
    if not inplace:
        param, v, b, g_bar = _copy(param), _copy(v), _copy(b), _copy(g_bar)
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = _add(g, param, alpha=weight_decay)  # g <- g + lambda theta
    v *= alpha
    v = _addcmul_(v, g, g, value=1 - alpha)  # v <- alpha v + (1 - alpha) g^2
    if centered:
        g_bar = _zeros_like(param) if g_bar is None else g_bar
        g_bar = _lerp_(g_bar, g, 1 - alpha)  # g_bar <- alpha g_bar + (1 - alpha) g
        r = _sqrt(_addcmul(v, g_bar, g_bar, value=-1))  # sqrt(v - g_bar^2)
    else:
        r = _sqrt(v)
    r += eps  # eps outside the root
    if momentum > 0:
        b = _zeros_like(param) if b is None else b
        b *= momentum
        b = _addcdiv_(b, g, r, value=1)  # b <- mu b + g / r
        param = _add_(param, b, alpha=-lr)  # theta <- theta - lr b
    else:
        param = _addcdiv_(param, g, r, value=-lr)  # theta <- theta - lr g / r
    return param, RMSpropState(square_avg=v, momentum_buffer=b, grad_avg=g_bar)


def rmsprop(
    lr: float = 1e-2,
    alpha: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    centered: bool = False,
    maximize: bool = False,
) -> UpdateRule:
    """RMSprop as an :class:`UpdateRule`; see :func:`rmsprop_step`.

    Hyper-parameters are validated here, as ``torch.optim.RMSprop`` validates them (and
    ``alpha`` must also be at most 1, which torch does not check: beyond 1, :math:`v` can turn
    negative and its root NaN).
    """
    hp = {
        "lr": check_hparam("lr", lr, low=0.0),
        "alpha": check_hparam("alpha", alpha, low=0.0, high=1.0),
        "eps": check_hparam("eps", eps, low=0.0),
        "weight_decay": check_hparam("weight_decay", weight_decay, low=0.0),
        "momentum": check_hparam("momentum", momentum, low=0.0),
        "centered": bool(centered),
        "maximize": bool(maximize),
    }

    def step(
        param: Array, grad: Array, state: RMSpropState, inplace: bool = False
    ) -> tuple[Array, RMSpropState]:
        return rmsprop_step(param, grad, state, inplace=inplace, **hp)

    return UpdateRule("rmsprop", rmsprop_init, step, hp)


# --------------------------------------------------------------------------------------------
# Adam, AMSGrad and AdamW
# --------------------------------------------------------------------------------------------


class AdamState(NamedTuple):
    """State of Adam: the step count ``t``, the running means ``m`` of the gradients and ``v``
    of their squares (both start at zero), and for AMSGrad the running maximum ``v_max`` of
    ``v`` (``None`` until the first AMSGrad step)."""

    t: int
    m: Array
    v: Array
    v_max: Array | None = None


def adam_init(param: Array) -> AdamState:
    """The state before the first step: ``t = 0``, ``m = v = 0``, no ``v_max`` yet."""
    return AdamState(t=0, m=_zeros_like(param), v=_zeros_like(param), v_max=None)


def adam_step(
    param: Array,
    grad: Array,
    state: AdamState,
    *,
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    amsgrad: bool = False,
    decoupled_weight_decay: bool = False,
    maximize: bool = False,
    inplace: bool = False,
) -> tuple[Array, AdamState]:
    r"""One step of Adam (or AMSGrad, or AdamW), as torch.optim.Adam and torch.optim.AdamW.

    Symbols: parameters :math:`\theta`, gradient :math:`g`, learning rate :math:`\eta`,
    decay rates :math:`\beta_1, \beta_2`, weight decay :math:`\lambda`, step count :math:`t`,
    first and second moment estimates :math:`m, v` and their bias-corrected versions
    :math:`\hat m, \hat v`, and :math:`\epsilon`. All elementwise.

    .. math::

        \theta_{t-1} &\leftarrow (1 - \eta\lambda)\, \theta_{t-1}
            &&\text{(AdamW: decoupled weight decay)}\\
        g_t &\leftarrow g_t + \lambda\,\theta_{t-1}
            &&\text{(Adam: L2 weight decay, folded into the gradient)}\\
        m_t &\leftarrow \beta_1\, m_{t-1} + (1-\beta_1)\, g_t\\
        v_t &\leftarrow \beta_2\, v_{t-1} + (1-\beta_2)\, g_t^2\\
        v^{\max}_t &\leftarrow \max\bigl(v^{\max}_{t-1}, v_t\bigr)
            &&\text{(AMSGrad only; it replaces } v_t \text{ below)}\\
        \hat m_t &\leftarrow m_t / (1 - \beta_1^t), \qquad
        \hat v_t \leftarrow v_t / (1 - \beta_2^t)\\
        \theta_t &\leftarrow \theta_{t-1}
                     - \eta\, \hat m_t \,/\, \bigl(\sqrt{\hat v_t} + \epsilon\bigr)

    :math:`m` and :math:`v` start at zero, so early on they underestimate the moments; the
    bias corrections :math:`1/(1-\beta^t)` undo that. Adam does not clip gradients.

    Conventions:

    * :math:`\epsilon` is added outside the root, after bias correction, as in the paper and
      PyTorch; TensorFlow's Adam adds an :math:`\hat\epsilon` to :math:`\sqrt{v}` before the
      correction, which is a slightly different rule.
    * The bias corrections are scalars, so, as PyTorch does, they are applied to :math:`\eta`
      and to :math:`\sqrt{v}` rather than to whole arrays: the same numbers, fewer passes over
      memory.
    * AMSGrad keeps the maximum of :math:`v`, and bias-corrects that maximum, as PyTorch does;
      Reddi et al. have no bias correction at all, and "the maximum of :math:`\hat v`" would be
      a different rule.
    * AdamW (``decoupled_weight_decay``) shrinks :math:`\theta` by :math:`\eta\lambda`, the
      decay multiplied by the learning rate, as in PyTorch. Loshchilov & Hutter multiply
      :math:`\lambda` by the schedule multiplier only, not by the learning rate, so a
      :math:`\lambda` from the paper must be divided by :math:`\eta` to be used here.

    Example:
        >>> import numpy as np
        >>> theta = np.array([1.0, -2.0])
        >>> theta, state = adam_step(theta, 2 * theta, adam_init(theta), lr=0.1)
        >>> theta  # the first step is lr g / (|g| + eps): lr sign(g), whatever the size of g
        array([ 0.9, -1.9])

    References: Kingma & Ba (2015), Adam: a method for stochastic optimization, ICLR;
    Reddi, Kale & Kumar (2018), On the convergence of Adam and beyond, ICLR (AMSGrad);
    Loshchilov & Hutter (2019), Decoupled weight decay regularization, ICLR (AdamW).
    """
    t, m, v, v_max = state
    if not inplace:
        param, m, v, v_max = _copy(param), _copy(m), _copy(v), _copy(v_max)
    t = t + 1
    g = -grad if maximize else grad
    if weight_decay != 0:
        if decoupled_weight_decay:
            param *= 1 - lr * weight_decay  # theta <- (1 - lr lambda) theta
        else:
            g = _add(g, param, alpha=weight_decay)  # g <- g + lambda theta
    m = _lerp_(m, g, 1 - beta1)  # m <- beta1 m + (1 - beta1) g
    v *= beta2
    v = _addcmul_(v, g, g, value=1 - beta2)  # v <- beta2 v + (1 - beta2) g^2
    if amsgrad:
        v_max = _copy(v) if v_max is None else _maximum_(v_max, v)  # v_max <- max(v_max, v)
    # theta <- theta - lr m_hat / (sqrt(v_hat) + eps), with m_hat = m / (1 - beta1^t) and
    # v_hat = v / (1 - beta2^t): the corrections are scalars, applied to lr and to sqrt(v)
    denom = _sqrt(v_max if amsgrad else v)
    denom /= (1 - beta2**t) ** 0.5  # sqrt(v_hat)
    denom += eps
    param = _addcdiv_(param, m, denom, value=-lr / (1 - beta1**t))
    return param, AdamState(t=t, m=m, v=v, v_max=v_max)


def adam(
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    amsgrad: bool = False,
    decoupled_weight_decay: bool = False,
    maximize: bool = False,
) -> UpdateRule:
    """Adam as an :class:`UpdateRule`; see :func:`adam_step`.

    Hyper-parameters are validated here, as ``torch.optim.Adam`` validates them.
    """
    hp = {
        "lr": check_hparam("lr", lr, low=0.0),
        "beta1": check_hparam("beta1", beta1, low=0.0, high=1.0, high_open=True),
        "beta2": check_hparam("beta2", beta2, low=0.0, high=1.0, high_open=True),
        "eps": check_hparam("eps", eps, low=0.0),
        "weight_decay": check_hparam("weight_decay", weight_decay, low=0.0),
        "amsgrad": bool(amsgrad),
        "decoupled_weight_decay": bool(decoupled_weight_decay),
        "maximize": bool(maximize),
    }

    def step(
        param: Array, grad: Array, state: AdamState, inplace: bool = False
    ) -> tuple[Array, AdamState]:
        return adam_step(param, grad, state, inplace=inplace, **hp)

    return UpdateRule("adam", adam_init, step, hp)


def adamw(
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 1e-2,
    amsgrad: bool = False,
    maximize: bool = False,
) -> UpdateRule:
    """AdamW: Adam with decoupled weight decay, as an :class:`UpdateRule`; see :func:`adam_step`.

    The defaults are ``torch.optim.AdamW``'s; note ``weight_decay=1e-2``, not 0.
    """
    rule = adam(lr, beta1, beta2, eps, weight_decay, amsgrad, True, maximize)
    return replace(rule, name="adamw")
