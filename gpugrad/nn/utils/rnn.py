"""``gpugrad.nn.utils.rnn``: pad variable-length sequences into one batch tensor (and back).

PackedSequence is not provided: pad, and mask with the lengths."""

from __future__ import annotations

from ..._tensor import Tensor
from ...ops import stack
from .. import functional as F


def pad_sequence(
    sequences, batch_first: bool = False, padding_value: float = 0.0, padding_side: str = "right"
) -> Tensor:
    """Stack tensors of shape (L_i, *) into (L_max, B, *) (or (B, L_max, *)), padding each
    with ``padding_value`` on ``padding_side``; differentiable in every sequence."""
    seqs = list(sequences)
    if not seqs:
        raise RuntimeError("received an empty list of sequences")
    if padding_side not in ("left", "right"):
        raise ValueError(
            f"Expected padding_side to be one of left or right, but got {padding_side}."
        )
    longest = max(s.shape[0] for s in seqs)
    padded = []
    for s in seqs:
        extra = longest - s.shape[0]
        side = (extra, 0) if padding_side == "left" else (0, extra)
        padded.append(F.pad(s, (0, 0) * (s.ndim - 1) + side, value=padding_value) if extra else s)
    return stack(padded, 0 if batch_first else 1)


def unpad_sequence(padded_sequences: Tensor, lengths, batch_first: bool = False) -> list:
    """The inverse of pad_sequence (right padding): each sequence cut to its length."""
    x = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    n = lengths.tolist() if isinstance(lengths, Tensor) else list(lengths)
    return [x[i, : int(k)] for i, k in enumerate(n)]
