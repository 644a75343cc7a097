"""``Adam`` and ``AdamW``: torch.optim.Adam and torch.optim.AdamW, with the arithmetic of
:func:`~dlopt_lab.optim.functional.adam_step`."""

from __future__ import annotations

from typing import Any

from dlopt_lab.optim._base import RuleOptimizer
from dlopt_lab.optim.functional import AdamState, UpdateRule, adam, check_hparam


class Adam(RuleOptimizer):
    """Adam, optionally AMSGrad; a drop-in for ``torch.optim.Adam``.

    The update is :func:`~dlopt_lab.optim.functional.adam_step`, whose docstring has the math.
    Same arguments and defaults as ``torch.optim.Adam``, without the
    ``foreach``/``fused``/``capturable``/``differentiable`` switches. ``self.state[p]`` holds
    :class:`~dlopt_lab.optim.functional.AdamState`'s fields ``t``, ``m``, ``v``, ``v_max``.

    Args:
        params: parameters, or dicts defining parameter groups.
        lr: learning rate (default 1e-3).
        betas: ``(beta1, beta2)``, the decay rates of the running means of the gradient and of
            its square, each in [0, 1) (default (0.9, 0.999)).
        eps: added to the root, for numerical stability (default 1e-8).
        weight_decay: L2 penalty, or decoupled decay with ``decoupled_weight_decay`` (default 0).
        amsgrad: use the running maximum of the second moment (AMSGrad) (default False).
        maximize: maximize the objective instead of minimizing it (default False).
        decoupled_weight_decay: decay the weights directly, as AdamW (default False).

    Example:
        >>> import torch
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = Adam([w], lr=0.1)
        >>> (w**2).sum().backward()
        >>> opt.step()  # the first step is lr sign(g)
        >>> w.data
        tensor([ 0.9000, -1.9000])
    """

    _state_type = AdamState

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)

    @staticmethod
    def _rule(group: dict[str, Any]) -> UpdateRule:
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"Invalid betas: {betas!r} (expected a pair (beta1, beta2))")
        for i, beta in enumerate(betas):
            check_hparam(f"betas[{i}]", beta, low=0.0, high=1.0, high_open=True)
        return adam(
            lr=group["lr"],
            beta1=betas[0],
            beta2=betas[1],
            eps=group["eps"],
            weight_decay=group["weight_decay"],
            amsgrad=group["amsgrad"],
            decoupled_weight_decay=group["decoupled_weight_decay"],
            maximize=group["maximize"],
        )


class AdamW(Adam):
    """AdamW: Adam with decoupled weight decay; a drop-in for ``torch.optim.AdamW``.

    ``Adam(..., decoupled_weight_decay=True)`` with torch's AdamW default
    ``weight_decay=1e-2``. The decay is multiplied by the learning rate, as in PyTorch (see
    :func:`~dlopt_lab.optim.functional.adam_step` for how that differs from the paper).

    Args:
        params: parameters, or dicts defining parameter groups.
        lr: learning rate (default 1e-3).
        betas: ``(beta1, beta2)``, each in [0, 1) (default (0.9, 0.999)).
        eps: added to the root, for numerical stability (default 1e-8).
        weight_decay: decoupled weight decay, applied as ``p *= 1 - lr weight_decay``
            (default 1e-2).
        amsgrad: use the running maximum of the second moment (AMSGrad) (default False).
        maximize: maximize the objective instead of minimizing it (default False).
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            maximize=maximize,
            decoupled_weight_decay=True,
        )
