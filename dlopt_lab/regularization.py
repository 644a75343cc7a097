"""Regularization: inverted dropout, and the L2 and L1 penalties added to a loss.

* :func:`inverted_dropout`: zero each entry with probability ``p`` during training and scale
  the survivors by ``1 / (1 - p)``, so that nothing changes at test time.
* :func:`l2_penalty`, :func:`l1_penalty`: :math:`\\tfrac12\\sum\\|w\\|^2` and
  :math:`\\sum|w|` over a list of weight tensors, differentiable by autograd.

Importing this module does not import torch.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dlopt_lab.optim.functional import check_hparam

Tensor = Any  # a torch tensor

__all__ = ["inverted_dropout", "l1_penalty", "l2_penalty"]


def inverted_dropout(
    x: Tensor,
    p: float,
    *,
    training: bool = True,
    generator: Any = None,
) -> Tensor:
    r"""Dropout as PyTorch does it: drop with probability ``p``, rescale the survivors.

    Symbols: input :math:`x`, drop probability :math:`p`, mask :math:`m`, one independent
    entry per entry of :math:`x`.

    .. math::

        m_i &\sim \operatorname{Bernoulli}(1 - p)\\
        \operatorname{out}_i &= \frac{m_i\, x_i}{1 - p}
            \qquad\Rightarrow\qquad \mathbb E[\operatorname{out}_i] = x_i

    Because the expected output equals the input, evaluation needs no correction: with
    ``training=False`` (or ``p = 0``) the input is returned as is.

    Conventions: this is ``torch.nn.functional.dropout`` (and ``nn.Dropout``): the scaling
    happens at training time ("inverted"). The dropout of Srivastava et al. (2014) keeps the
    survivors as they are and multiplies the weights by :math:`1 - p` at test time instead;
    both give the same expected activations. ``p`` is the probability to *drop* (Srivastava
    et al. write :math:`p` for the probability to *keep*). The mask is drawn from
    ``generator`` (``None``: torch's global one); whether it coincides with the mask torch
    draws after seeding with the same number is an accident of implementation (on the CPU it
    does in float64 and does not in float32): the two agree in distribution.

    Example:
        >>> import torch
        >>> x = torch.ones(8)
        >>> inverted_dropout(x, 0.5, generator=torch.Generator().manual_seed(0))
        tensor([2., 0., 2., 2., 2., 0., 2., 0.])
        >>> inverted_dropout(x, 0.5, training=False)
        tensor([1., 1., 1., 1., 1., 1., 1., 1.])

    References: Srivastava, Hinton, Krizhevsky, Sutskever & Salakhutdinov, "Dropout: a simple
    way to prevent neural networks from overfitting" (JMLR 2014).
    """
    import torch

    p = check_hparam("p", p, low=0.0, high=1.0, high_open=True)
    if not training or p == 0:
        return x
    u = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    keep = (u < 1 - p).to(x.dtype)  # m ~ Bernoulli(1 - p)
    return x * (keep / (1 - p))  # survivors times 1/(1-p), the factor as torch computes it


def _checked(params: Iterable[Tensor]) -> list[Tensor]:
    params = list(params)
    if not params:
        raise ValueError("params is empty: pass the weight tensors to penalize")
    return params


def l2_penalty(params: Iterable[Tensor]) -> Tensor:
    r"""Half the squared Euclidean norm of all the tensors in ``params``: the L2 penalty.

    .. math::

        \Omega(w) = \tfrac12 \sum_k \|w_k\|_2^2 = \tfrac12 \sum_k \sum_j w_{kj}^2,
        \qquad \nabla_{w}\,\Omega = w

    Added to a loss as :math:`L + \lambda\,\Omega(w)`, it adds :math:`\lambda w` to every
    gradient: with plain SGD that is exactly ``weight_decay=λ`` (each step shrinks
    :math:`w` by the factor :math:`1 - \eta\lambda`); with Adam it is not, which is why AdamW
    decouples the decay (Loshchilov & Hutter, 2019).

    Which tensors to pass: usually the weights only, not the biases or the scales and shifts
    of normalization layers, which do not make a function more complex when they grow::

        weights = [m.weight for m in model.modules() if isinstance(m, torch.nn.Linear)]
        loss = F.cross_entropy(model(X), y) + lam * l2_penalty(weights)

    Example:
        >>> import torch
        >>> l2_penalty([torch.tensor([3.0, 4.0]), torch.tensor([[1.0]])])
        tensor(13.)
    """
    return sum((w * w).sum() for w in _checked(params)) / 2


def l1_penalty(params: Iterable[Tensor]) -> Tensor:
    r"""The sum of the absolute values of all the entries of ``params``: the L1 penalty.

    .. math::

        \Omega(w) = \sum_k \|w_k\|_1 = \sum_k \sum_j |w_{kj}|,
        \qquad \nabla_{w}\,\Omega = \operatorname{sign}(w)

    Its gradient has the same size, :math:`\lambda`, for every non-zero weight, however small,
    so L1 pushes weights to exactly zero (sparse solutions); L2 shrinks each in proportion to
    its size. At :math:`w = 0` autograd uses the subgradient 0 (``sign(0) = 0``). Pass the
    weights, as for :func:`l2_penalty`.

    Example:
        >>> import torch
        >>> l1_penalty([torch.tensor([3.0, -4.0]), torch.tensor([[1.0]])])
        tensor(8.)
    """
    return sum(w.abs().sum() for w in _checked(params))
