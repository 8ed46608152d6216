"""Structured channel pruning of trained layers: which output channels of a convolution matter
least (L1 norm of their weights times the magnitude of the batch-norm scale that follows), and
the same layers rebuilt with only the kept channels, weights copied.

A pruned network is not the original: it is fine-tuned afterwards (``omni-ros compress``
distils it from the unpruned one). Indices are sorted, so kept channels stay in their order.
"""

from __future__ import annotations

import torch
from torch import nn


def kept(n: int, keep: float) -> int:
    """How many of ``n`` channels a keep fraction ``keep`` (0, 1] leaves (at least 1)."""
    return max(1, int(round(n * keep)))


def strongest(conv: nn.Conv2d, bn: nn.BatchNorm2d | None, n: int) -> torch.Tensor:
    """Sorted indices of the ``n`` output channels of ``conv`` with the largest L1 weight norm,
    each scaled by |gamma| of ``bn`` (a channel the batch norm silences carries nothing)."""
    score = conv.weight.detach().abs().sum(dim=(1, 2, 3))
    if bn is not None:
        score = score * bn.weight.detach().abs()
    return torch.sort(torch.topk(score, n).indices).values


def conv(layer: nn.Conv2d, out_idx: torch.Tensor | None, in_idx: torch.Tensor | None) -> nn.Conv2d:
    """``layer`` with only the output channels ``out_idx`` and input channels ``in_idx``
    (None: all)."""
    w = layer.weight.detach()
    w = w if out_idx is None else w[out_idx]
    w = w if in_idx is None else w[:, in_idx]
    new = nn.Conv2d(w.shape[1], w.shape[0], layer.kernel_size, layer.stride, layer.padding,
                    layer.dilation, bias=layer.bias is not None)
    new.weight.data.copy_(w)
    if layer.bias is not None:
        b = layer.bias.detach()
        new.bias.data.copy_(b if out_idx is None else b[out_idx])
    return new


def batch_norm(layer: nn.BatchNorm2d, idx: torch.Tensor) -> nn.BatchNorm2d:
    """``layer`` for the channels ``idx`` (scale, shift and running statistics copied)."""
    new = nn.BatchNorm2d(len(idx), layer.eps, layer.momentum)
    for name in ("weight", "bias", "running_mean", "running_var"):
        getattr(new, name).data.copy_(getattr(layer, name).detach()[idx])
    new.num_batches_tracked.data.copy_(layer.num_batches_tracked)
    return new


def linear(layer: nn.Linear, in_idx: torch.Tensor) -> nn.Linear:
    """``layer`` reading only the input features ``in_idx``."""
    new = nn.Linear(len(in_idx), layer.out_features, bias=layer.bias is not None)
    new.weight.data.copy_(layer.weight.detach()[:, in_idx])
    if layer.bias is not None:
        new.bias.data.copy_(layer.bias.detach())
    return new


def block(seq: nn.Sequential, n_out: int | None, in_idx: torch.Tensor | None
          ) -> tuple[nn.Sequential, torch.Tensor | None]:
    """A conv, batch-norm, activation block with its ``n_out`` strongest output channels (None:
    all) reading the input channels ``in_idx``; returns it and the kept output indices."""
    c, bn, act = seq
    out = None if n_out is None else strongest(c, bn, n_out)
    full = torch.arange(c.out_channels)
    return nn.Sequential(conv(c, out, in_idx), batch_norm(bn, full if out is None else out),
                         act), out


def concat(first: torch.Tensor, second: torch.Tensor, offset: int) -> torch.Tensor:
    """Input indices of a layer that reads ``torch.cat([a, b])`` where ``a`` had ``offset``
    channels: the kept ones of each part."""
    return torch.cat([first, second + offset])
