"""``SGD``: torch.optim.SGD, with the arithmetic of :func:`~dlopt_lab.optim.functional.sgd_step`."""

from __future__ import annotations

from typing import Any

from dlopt_lab.optim._base import RuleOptimizer
from dlopt_lab.optim.functional import SGDState, UpdateRule, sgd


class SGD(RuleOptimizer):
    """Stochastic gradient descent with optional momentum; a drop-in for ``torch.optim.SGD``.

    The update is :func:`~dlopt_lab.optim.functional.sgd_step`, whose docstring has the math.
    Same arguments, defaults and state conventions as ``torch.optim.SGD`` (the momentum buffer
    starts at the first gradient), without the ``foreach``/``fused``/``differentiable``
    switches. ``self.state[p]`` holds :class:`~dlopt_lab.optim.functional.SGDState`'s field.

    Args:
        params: parameters, or dicts defining parameter groups.
        lr: learning rate (default 1e-3).
        momentum: momentum factor (default 0).
        dampening: dampening for momentum, in [0, 1] (default 0).
        weight_decay: L2 penalty (default 0).
        nesterov: use Nesterov momentum (default False).
        maximize: maximize the objective instead of minimizing it (default False).

    Example:
        >>> import torch
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = SGD([w], lr=0.25)
        >>> (w**2).sum().backward()
        >>> opt.step()
        >>> w.data
        tensor([ 0.5000, -1.0000])
    """

    _state_type = SGDState

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    @staticmethod
    def _rule(group: dict[str, Any]) -> UpdateRule:
        return sgd(
            lr=group["lr"],
            momentum=group["momentum"],
            dampening=group["dampening"],
            weight_decay=group["weight_decay"],
            nesterov=group["nesterov"],
            maximize=group["maximize"],
        )
