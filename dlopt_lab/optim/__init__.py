"""Optimizers written from scratch: pure update rules and torch.optim-compatible classes."""

from dlopt_lab.optim.functional import (
    SGDState,
    UpdateRule,
    check_hparam,
    sgd,
    sgd_init,
    sgd_step,
)

__all__ = [
    "SGDState",
    "UpdateRule",
    "check_hparam",
    "sgd",
    "sgd_init",
    "sgd_step",
]
