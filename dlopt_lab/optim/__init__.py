"""Optimizers written from scratch: pure update rules and torch.optim-compatible classes.

* :mod:`dlopt_lab.optim.functional`: each rule as a state tuple, ``<rule>_init``,
  ``<rule>_step`` and a validating factory (``sgd``, ``adagrad``, ``rmsprop``, ``adam``,
  ``adamw``); NumPy arrays or torch tensors.
* ``SGD``, ``Adagrad``, ``RMSprop``, ``Adam``, ``AdamW``: ``torch.optim.Optimizer`` classes
  whose ``step`` calls those rules, one small module each (``_sgd.py``, ...).

The classes load on first use: they subclass ``torch.optim.Optimizer``, and importing torch
takes seconds that the NumPy explorers need not spend. (Their modules' names start with ``_``
because a submodule ``sgd.py`` would replace the function ``dlopt_lab.optim.sgd`` as soon as
it was imported.)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from dlopt_lab.optim.functional import (
    AdagradState,
    AdamState,
    RMSpropState,
    SGDState,
    UpdateRule,
    adagrad,
    adagrad_init,
    adagrad_step,
    adam,
    adam_init,
    adam_step,
    adamw,
    check_hparam,
    rmsprop,
    rmsprop_init,
    rmsprop_step,
    sgd,
    sgd_init,
    sgd_step,
)

if TYPE_CHECKING:
    from dlopt_lab.optim._adagrad import Adagrad
    from dlopt_lab.optim._adam import Adam, AdamW
    from dlopt_lab.optim._rmsprop import RMSprop
    from dlopt_lab.optim._sgd import SGD

_CLASS_MODULES = {
    "SGD": "_sgd",
    "Adagrad": "_adagrad",
    "RMSprop": "_rmsprop",
    "Adam": "_adam",
    "AdamW": "_adam",
}


def __getattr__(name: str) -> Any:
    if name in _CLASS_MODULES:
        cls = getattr(importlib.import_module(f"{__name__}.{_CLASS_MODULES[name]}"), name)
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "SGD",
    "Adagrad",
    "AdagradState",
    "Adam",
    "AdamState",
    "AdamW",
    "RMSprop",
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
