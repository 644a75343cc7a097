"""The bridge from a pure update rule to a ``torch.optim.Optimizer``.

A subclass says how a parameter group's hyper-parameters make an
:class:`~dlopt_lab.optim.functional.UpdateRule` (``_rule``) and which state tuple that rule
keeps (``_state_type``); everything else, the loop over groups and parameters, the lazily
created state and the ``state_dict`` round trip, lives here once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from dlopt_lab.optim.functional import UpdateRule


class RuleOptimizer(torch.optim.Optimizer):
    """A ``torch.optim.Optimizer`` whose arithmetic is a pure update rule.

    ``self.state[p]`` holds the fields of the rule's state tuple (``{"t": 3, "m": ..., "v":
    ...}`` for Adam), so ``state_dict()`` and ``load_state_dict()`` work as in torch.optim.
    The step calls the rule with ``inplace=True``: the rule then overwrites ``p`` and the
    state's tensors instead of copying them, which keeps a step as fast as torch.optim's.
    """

    _state_type: type  # the rule's NamedTuple, e.g. AdamState

    @staticmethod
    def _rule(group: dict[str, Any]) -> UpdateRule:
        """The update rule for one parameter group; raises ValueError for bad values."""
        raise NotImplementedError

    def __init__(self, params: Any, defaults: dict[str, Any]) -> None:
        self._rule(defaults)  # validate the constructor's arguments before anything else
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        # torch.optim checks only the constructor's values; a group's own values are checked too
        self._rule({**self.defaults, **param_group})
        super().add_param_group(param_group)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Take one step for every parameter that has a gradient; return ``closure()``'s loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        with torch.no_grad():
            for group in self.param_groups:
                rule = self._rule(group)  # rebuilt each step: a scheduler may have changed lr
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    fields = self.state[p]
                    state = self._state_type(**fields) if fields else rule.init(p)
                    new_p, state = rule.step(p, p.grad, state, inplace=True)
                    if new_p is not p:  # it is: the rule wrote into p
                        p.copy_(new_p)
                    fields.update(state._asdict())
        return loss
