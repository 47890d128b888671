"""``gpugrad.nn.utils.rnn``: variable-length sequences as one padded batch tensor, or packed
(PackedSequence: the time steps' rows, longest sequences first, one after another), and the
conversions between them, as ``torch.nn.utils.rnn``. RNN / LSTM / GRU take and return
PackedSequence."""

from __future__ import annotations

from collections import namedtuple

from ... import _creation
from ... import _dtype as D
from ..._tensor import Tensor
from ...ops import cat, stack
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


class PackedSequence(
    namedtuple("PackedSequence", "data batch_sizes sorted_indices unsorted_indices")
):
    """Packed sequences: ``data`` holds time step 0's rows of every sequence, then step 1's
    rows of the sequences still running ... (sequences ordered longest first);
    ``batch_sizes[t]`` is how many rows step t has (an int64 CPU tensor);
    ``sorted_indices`` / ``unsorted_indices`` map between that order and the caller's (None
    when the input was sorted already)."""

    __slots__ = ()

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None and sorted_indices is not None:
            unsorted_indices = _invert(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs) -> PackedSequence:
        """``data`` moved / cast (the index tensors follow to its device)."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        move = lambda t: None if t is None else t.to(data.device)  # noqa: E731
        return type(self)(
            data, self.batch_sizes, move(self.sorted_indices), move(self.unsorted_indices)
        )

    def cpu(self) -> PackedSequence:
        return self.to("cpu")

    def cuda(self, *args, **kwargs) -> PackedSequence:
        return self.to("cuda", *args, **kwargs)

    @property
    def is_cuda(self) -> bool:
        return self.data.device.type == "cuda"

    def is_pinned(self) -> bool:
        return self.data.is_pinned()


def _invert(perm: Tensor) -> Tensor:
    order = perm.tolist()
    inv = [0] * len(order)
    for i, j in enumerate(order):
        inv[j] = i
    return _creation.tensor(inv, dtype=perm.dtype, device=perm.device)


def _lengths_list(lengths) -> list:
    if isinstance(lengths, Tensor):
        if lengths.ndim != 1:
            raise RuntimeError(f"'lengths' argument should be a 1D tensor, but got {lengths.ndim}D")
        return [int(v) for v in lengths.tolist()]
    return [int(v) for v in lengths]


def pack_padded_sequence(
    input: Tensor, lengths, batch_first: bool = False, enforce_sorted: bool = True
) -> PackedSequence:
    """Pack a padded (T, B, *) batch (``batch_first``: (B, T, *)) of sequences of the given
    ``lengths``; ``enforce_sorted`` demands lengths in decreasing order, otherwise the batch
    is sorted here and the order kept in the result."""
    n = _lengths_list(lengths)
    batch_dim = 0 if batch_first else 1
    if len(n) != input.shape[batch_dim]:
        raise RuntimeError(
            f"Expected `len(lengths)` to be equal to batch_size, but got {len(n)} (batch_size="
            f"{input.shape[batch_dim]})"
        )
    if enforce_sorted:
        if any(a < b for a, b in zip(n, n[1:])):
            raise RuntimeError(
                "`lengths` array must be sorted in decreasing order when `enforce_sorted` is "
                "True. You can pass `enforce_sorted=False` to pack_padded_sequence and/or "
                "pack_sequence to sidestep this requirement if you do not need ONNX "
                "exportability."
            )
        sorted_indices = None
    else:
        order = sorted(range(len(n)), key=lambda i: -n[i])  # stable: ties keep their order
        sorted_indices = _creation.tensor(order, dtype=D.int64, device=input.device)
        input = input.index_select(batch_dim, sorted_indices)
        n = [n[i] for i in order]
    if n and n[-1] <= 0:
        raise RuntimeError(
            "Length of all samples has to be greater than 0, but found an element in 'lengths' "
            "that is <= 0"
        )
    x = input.transpose(0, 1) if batch_first else input
    if n and n[0] > x.shape[0]:
        raise RuntimeError(
            f"Expected sequence length to be at most {x.shape[0]}, but got a sequence of "
            f"length {n[0]}"
        )
    sizes = [sum(1 for k in n if k > t) for t in range(n[0] if n else 0)]
    data = cat([x[t, :b] for t, b in enumerate(sizes)], 0)
    batch_sizes = _creation.tensor(sizes, dtype=D.int64)
    return PackedSequence(data, batch_sizes, sorted_indices, None)


def _padded_sorted(sequence: PackedSequence, padding_value: float, total_length=None):
    """(T, B, *) in the packed (sorted) order, and the sorted lengths."""
    sizes = [int(b) for b in sequence.batch_sizes.tolist()]
    data = sequence.data
    B = sizes[0] if sizes else 0
    steps, start = [], 0
    for b in sizes:
        row = data[start : start + b]
        start += b
        if b < B:
            row = F.pad(row, (0, 0) * (data.ndim - 1) + (0, B - b), value=padding_value)
        steps.append(row)
    lengths = [sum(1 for b in sizes if b > i) for i in range(B)]
    out = stack(steps, 0)
    if total_length is not None and total_length > len(sizes):
        extra = total_length - len(sizes)
        out = F.pad(out, (0, 0) * (data.ndim - 1) + (0, 0, 0, extra), value=padding_value)
    return out, lengths


def pad_packed_sequence(
    sequence: PackedSequence,
    batch_first: bool = False,
    padding_value: float = 0.0,
    total_length: int | None = None,
) -> tuple:
    """The inverse of pack_padded_sequence: (padded batch, lengths), in the caller's batch
    order; ``total_length`` pads the time dim to that many steps."""
    steps = len(sequence.batch_sizes)
    if total_length is not None and total_length < steps:
        raise ValueError(
            "Expected total_length to be at least the length of the longest sequence in "
            f"input, but got total_length={total_length} and max sequence length being {steps}"
        )
    out, lengths = _padded_sorted(sequence, padding_value, total_length)
    lengths_t = _creation.tensor(lengths, dtype=D.int64)
    if sequence.unsorted_indices is not None:
        out = out.index_select(1, sequence.unsorted_indices)
        lengths_t = lengths_t[sequence.unsorted_indices.cpu()]
    return (out.transpose(0, 1) if batch_first else out), lengths_t


def pack_sequence(sequences, enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of (L_i, *) tensors (by default longest first)."""
    seqs = list(sequences)
    lengths = [s.shape[0] for s in seqs]
    return pack_padded_sequence(pad_sequence(seqs), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences: PackedSequence) -> list:
    """The inverse of pack_sequence: the list of sequences, each at its length."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
