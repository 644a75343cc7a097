"""Update rules as pure functions: one formula, one place.

Each rule comes in three pieces, in the style of optax:

* a state tuple (``SGDState``), the rule's memory between steps, always visible;
* ``<rule>_init(param) -> state``;
* ``<rule>_step(param, grad, state, *, hyper-parameters) -> (new_param, new_state)``,
  a pure function: it never modifies its inputs, and it uses only arithmetic that NumPy
  arrays and torch tensors share, so the same line of code drives a 2-D explorer in NumPy
  and a ``torch.optim.Optimizer`` on a network.

``sgd(lr=...)`` and friends validate the hyper-parameters once and bind them into an
:class:`UpdateRule`, the object that :func:`dlopt_lab.trajectories.run` accepts.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

Array = Any  # a NumPy array or a torch tensor; the rules use only arithmetic both support

__all__ = [
    "Array",
    "SGDState",
    "UpdateRule",
    "check_hparam",
    "sgd",
    "sgd_init",
    "sgd_step",
]


@dataclass(frozen=True)
class UpdateRule:
    """An update rule with its hyper-parameters bound.

    ``init(param)`` makes the first state; ``step(param, grad, state)`` returns
    ``(new_param, new_state)``. ``hparams`` records the bound values, for labels and plots.
    """

    name: str
    init: Callable[[Array], Any]
    step: Callable[[Array, Array, Any], tuple[Array, Any]]
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
    argument and the allowed range, e.g. ``Invalid momentum: -0.1 (must be in [0, 1))``.
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
    :math:`\theta_t = \theta_{t-1} - \eta\, g_t`.

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
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * param
    buf = state.momentum_buffer
    if momentum != 0:
        buf = g if buf is None else momentum * buf + (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf
    return param - lr * g, SGDState(momentum_buffer=buf)


def sgd(
    lr: float,
    momentum: float = 0.0,
    dampening: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
    maximize: bool = False,
) -> UpdateRule:
    """Gradient descent (with optional momentum) as an :class:`UpdateRule`; see :func:`sgd_step`.

    Hyper-parameters are validated here, as ``torch.optim.SGD`` validates them.
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
        raise ValueError("Invalid nesterov: Nesterov momentum requires momentum > 0 and dampening = 0")

    def step(param: Array, grad: Array, state: SGDState) -> tuple[Array, SGDState]:
        return sgd_step(param, grad, state, **hp)

    return UpdateRule("sgd", sgd_init, step, hp)
