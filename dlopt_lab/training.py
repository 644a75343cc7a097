"""A small training loop: fit a model, evaluate it, and keep the history of every epoch.

>>> import torch
>>> from dlopt_lab.data import digits_loaders
>>> loaders = digits_loaders(batch_size=64)
>>> model = torch.nn.Linear(64, 10)
>>> opt = torch.optim.SGD(model.parameters(), lr=0.5)
>>> hist = fit(model, opt, loaders["train"], loaders["val"], num_epochs=3, progress=False)
>>> len(hist.train_loss), hist.val_acc[-1] > 0.8
(3, True)

The loop is deliberately plain (forward, loss, backward, step) so that a chapter can show it.
A progress bar (tqdm) appears in interactive sessions; the book's build sets the environment
variable ``DLOPT_LAB_PROGRESS=0`` so that no bar is baked into the static pages.
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["History", "evaluate", "fit", "gradient_norm"]


@dataclass
class History:
    """Per-epoch record of a training run (lists of equal length, one entry per epoch).

    ``grad_norm`` is the mean over the epoch's steps of the global gradient norm
    :math:`\\|g\\|_2`; ``time`` is the wall-clock seconds since the start of training,
    evaluation included; ``train_time`` counts only the optimization steps (forward, backward,
    step), the figure to compare when batch sizes or optimizers differ.
    """

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    time: list[float] = field(default_factory=list)
    train_time: list[float] = field(default_factory=list)
    step_loss: list[float] = field(default_factory=list)
    stopped_early: bool = False

    @property
    def num_epochs(self) -> int:
        return len(self.train_loss)

    @property
    def best_epoch(self) -> int:
        """Index of the epoch with the lowest validation loss (or training loss without one)."""
        losses = self.val_loss or self.train_loss
        if not losses:
            raise ValueError("the history is empty")
        return min(range(len(losses)), key=losses.__getitem__)


def _progress_enabled(progress: bool | None) -> bool:
    if progress is not None:
        return bool(progress)
    return os.environ.get("DLOPT_LAB_PROGRESS", "1") != "0"


def gradient_norm(parameters: Iterable[Any]) -> float:
    """The global Euclidean norm of the gradients of ``parameters`` (those that have one)."""
    import torch

    norms = [p.grad.detach().norm() for p in parameters if p.grad is not None]
    return float(torch.linalg.vector_norm(torch.stack(norms))) if norms else 0.0


def _unshuffled(loader: Iterable[Any]) -> Iterable[Any]:
    """The same examples in a fixed order. Iterating a shuffled DataLoader draws from its random
    generator, so measuring on it would change the batch order of the next epoch."""
    from torch.utils.data import DataLoader

    if isinstance(loader, DataLoader) and loader.batch_size is not None:
        # Large batches: evaluation has no gradients, and its result does not depend on them.
        return DataLoader(loader.dataset, batch_size=max(loader.batch_size, 1024), shuffle=False)
    return loader


def evaluate(
    model: Any,
    loader: Iterable[Any],
    loss_fn: Callable[..., Any] | None = None,
    *,
    device: Any = None,
) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` over ``loader`` (in eval mode, without gradients).

    Accuracy is the fraction of examples whose largest output is the label; it is ``nan`` when
    the targets are not class labels (a regression). A shuffled ``DataLoader`` is read in a fixed
    order, so evaluating on it leaves its random generator, and the next epoch's batches, alone.
    """
    import torch

    loss_fn = torch.nn.functional.cross_entropy if loss_fn is None else loss_fn
    was_training = model.training
    model.eval()
    total, loss_sum, correct, classify = 0, 0.0, 0, True
    with torch.no_grad():
        for X, y in _unshuffled(loader):  # never draw from a shuffled loader's generator
            if device is not None:
                X, y = X.to(device), y.to(device)
            out = model(X)
            loss_sum += float(loss_fn(out, y, reduction="sum"))
            if classify and y.dtype in (torch.int64, torch.int32) and out.ndim == 2:
                correct += int((out.argmax(dim=1) == y).sum())
            else:
                classify = False
            total += len(y)
    model.train(was_training)
    if total == 0:
        raise ValueError("loader yielded no examples")
    return loss_sum / total, (correct / total if classify else math.nan)


def fit(
    model: Any,
    optimizer: Any,
    train_loader: Iterable[Any],
    val_loader: Iterable[Any] | None = None,
    *,
    num_epochs: int = 10,
    loss_fn: Callable[..., Any] | None = None,
    scheduler: Any = None,
    device: Any = None,
    patience: int | None = None,
    progress: bool | None = None,
    record_steps: bool = False,
    measure_train: bool = True,
    measure_grad_norm: bool = True,
    restore_best: bool = False,
) -> History:
    """Train ``model`` with ``optimizer`` for ``num_epochs`` passes over ``train_loader``.

    Args:
        loss_fn: ``loss_fn(output, target)``; default: cross-entropy. It must accept
            ``reduction="sum"`` for evaluation, as the functions in ``torch.nn.functional`` do.
        scheduler: a ``torch.optim.lr_scheduler`` object, stepped once per epoch.
        device: where to compute; the model is moved there.
        patience: stop early after this many epochs without a lower validation loss (needs
            ``val_loader``); the model keeps its last weights, see :attr:`History.best_epoch`.
        progress: show a progress bar; ``None`` (default) shows one unless the environment
            variable ``DLOPT_LAB_PROGRESS`` is ``0``.
        record_steps: also record every mini-batch loss in ``History.step_loss``.
        measure_train: evaluate the whole training set after each epoch (``train_loss``,
            ``train_acc``); turn off for speed when only validation metrics matter (the lists
            then hold ``nan``).
        measure_grad_norm: record the mean gradient norm per epoch (costs a pass over the
            gradients every step; ``nan`` when off).
        restore_best: at the end, load the weights of the epoch with the lowest validation loss
            (:attr:`History.best_epoch`) back into the model, as early stopping usually intends.

    Returns:
        the :class:`History` of the run. Training and validation metrics are measured at the end
        of each epoch, in eval mode, on the whole split.
    """
    import torch

    if isinstance(num_epochs, bool) or not isinstance(num_epochs, int) or num_epochs < 1:
        raise ValueError(f"num_epochs must be a positive integer, got {num_epochs!r}")
    if patience is not None:
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"patience must be a positive integer or None, got {patience!r}")
        if val_loader is None:
            raise ValueError("patience needs a val_loader to watch")
    if restore_best and val_loader is None:
        raise ValueError("restore_best needs a val_loader to choose the best epoch")
    loss_fn = torch.nn.functional.cross_entropy if loss_fn is None else loss_fn
    if device is not None:
        model.to(device)
    history = History()
    train_eval = _unshuffled(train_loader)
    best, waited = math.inf, 0
    best_state = None
    start = time.perf_counter()
    training = 0.0
    epochs: Iterable[int] = range(num_epochs)
    bar = None
    if _progress_enabled(progress):
        from tqdm.auto import tqdm

        bar = tqdm(epochs, desc="training", unit="epoch", leave=True)
        epochs = bar
    for _ in epochs:
        model.train()
        norms = []
        epoch_start = time.perf_counter()
        for X, y in train_loader:
            if device is not None:
                X, y = X.to(device), y.to(device)
            optimizer.zero_grad()
            loss = loss_fn(model(X), y)
            loss.backward()
            if measure_grad_norm:
                norms.append(gradient_norm(model.parameters()))
            optimizer.step()
            if record_steps:
                history.step_loss.append(loss.item())
        training += time.perf_counter() - epoch_start
        history.train_time.append(training)
        history.lr.append(float(optimizer.param_groups[0]["lr"]))
        if scheduler is not None:
            scheduler.step()
        history.grad_norm.append(sum(norms) / len(norms) if norms else math.nan)
        if measure_train:
            train_loss, train_acc = evaluate(model, train_eval, loss_fn, device=device)
        else:
            train_loss, train_acc = math.nan, math.nan
        history.train_loss.append(train_loss)
        history.train_acc.append(train_acc)
        if val_loader is not None:
            val_loss, val_acc = evaluate(model, val_loader, loss_fn, device=device)
            history.val_loss.append(val_loss)
            history.val_acc.append(val_acc)
        history.time.append(time.perf_counter() - start)
        if bar is not None:
            shown = {"loss": f"{train_loss:.3f}"} if measure_train else {}
            if val_loader is not None:
                shown["val_acc"] = f"{history.val_acc[-1]:.3f}"
            bar.set_postfix(shown)
        watched = train_loss if measure_train else (history.val_loss[-1] if history.val_loss else 0.0)
        if not math.isfinite(watched):
            break  # diverged: further epochs only produce NaNs
        if restore_best and history.val_loss[-1] < min(history.val_loss[:-1], default=math.inf):
            best_state = copy.deepcopy(model.state_dict())
        if patience is not None:
            if history.val_loss[-1] < best:
                best, waited = history.val_loss[-1], 0
            else:
                waited += 1
                if waited >= patience:
                    history.stopped_early = True
                    break
    if bar is not None:
        bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    return history
