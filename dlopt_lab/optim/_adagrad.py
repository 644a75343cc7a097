"""``Adagrad``: torch.optim.Adagrad, with the arithmetic of
:func:`~dlopt_lab.optim.functional.adagrad_step`."""

from __future__ import annotations

from typing import Any

from dlopt_lab.optim._base import RuleOptimizer
from dlopt_lab.optim.functional import AdagradState, UpdateRule, adagrad


class Adagrad(RuleOptimizer):
    """AdaGrad; a drop-in for ``torch.optim.Adagrad``.

    The update is :func:`~dlopt_lab.optim.functional.adagrad_step`, whose docstring has the
    math. Same arguments and defaults as ``torch.optim.Adagrad``, without the
    ``foreach``/``fused``/``differentiable`` switches. ``self.state[p]`` holds
    :class:`~dlopt_lab.optim.functional.AdagradState`'s fields ``t`` and ``sum``.

    One difference: torch creates every parameter's sum in the constructor, from the
    constructor's ``initial_accumulator_value`` even for a group that sets its own; here the
    state appears at a parameter's first step, from its group's value.

    Args:
        params: parameters, or dicts defining parameter groups.
        lr: learning rate (default 1e-2).
        lr_decay: learning-rate decay, ``lr / (1 + (t - 1) lr_decay)`` (default 0).
        weight_decay: L2 penalty (default 0).
        initial_accumulator_value: starting value of the sum of squared gradients (default 0).
        eps: added to the root of the sum, for numerical stability (default 1e-10).
        maximize: maximize the objective instead of minimizing it (default False).
    """

    _state_type = AdagradState

    def __init__(
        self,
        params: Any,
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "eps": eps,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    @staticmethod
    def _rule(group: dict[str, Any]) -> UpdateRule:
        return adagrad(
            lr=group["lr"],
            lr_decay=group["lr_decay"],
            weight_decay=group["weight_decay"],
            initial_accumulator_value=group["initial_accumulator_value"],
            eps=group["eps"],
            maximize=group["maximize"],
        )
