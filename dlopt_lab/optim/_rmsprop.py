"""``RMSprop``: torch.optim.RMSprop, with the arithmetic of
:func:`~dlopt_lab.optim.functional.rmsprop_step`."""

from __future__ import annotations

from typing import Any

from dlopt_lab.optim._base import RuleOptimizer
from dlopt_lab.optim.functional import RMSpropState, UpdateRule, rmsprop


class RMSprop(RuleOptimizer):
    """RMSprop, optionally centered and with momentum; a drop-in for ``torch.optim.RMSprop``.

    The update is :func:`~dlopt_lab.optim.functional.rmsprop_step`, whose docstring has the
    math. Same arguments and defaults as ``torch.optim.RMSprop``, without the
    ``capturable``/``foreach``/``differentiable`` switches (so ``maximize`` is keyword-only
    here). ``self.state[p]`` holds :class:`~dlopt_lab.optim.functional.RMSpropState`'s fields.

    Args:
        params: parameters, or dicts defining parameter groups.
        lr: learning rate (default 1e-2).
        alpha: smoothing constant of the running mean of squared gradients, in [0, 1]
            (default 0.99).
        eps: added to the root, for numerical stability (default 1e-8).
        weight_decay: L2 penalty (default 0).
        momentum: momentum factor (default 0).
        centered: divide by the estimated standard deviation of the gradient instead of its
            root mean square (default False).
        maximize: maximize the objective instead of minimizing it (default False).
    """

    _state_type = RMSpropState

    def __init__(
        self,
        params: Any,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "alpha": alpha,
            "eps": eps,
            "weight_decay": weight_decay,
            "momentum": momentum,
            "centered": centered,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    @staticmethod
    def _rule(group: dict[str, Any]) -> UpdateRule:
        return rmsprop(
            lr=group["lr"],
            alpha=group["alpha"],
            eps=group["eps"],
            weight_decay=group["weight_decay"],
            momentum=group["momentum"],
            centered=group["centered"],
            maximize=group["maximize"],
        )
