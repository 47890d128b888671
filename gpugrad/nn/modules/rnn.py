"""Recurrent layers: RNN, LSTM, GRU (multi-layer, bidirectional, batch_first, inter-layer
dropout) and their single-step cells, with PyTorch's parameter names, shapes, gate order and
initialisation, so state dicts move between the two.

Each step is a composition of differentiable ops; the input projections of all time steps are
one matmul per layer and direction, and only the recurrent product runs step by step.
"""

from __future__ import annotations

import math

from ... import _creation, _dtype
from ..._tensor import Tensor
from ...ops import cat, stack, where
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _cell_step(mode: str, xw: Tensor, h: Tensor, c: Tensor | None, w_hh, b_hh):
    """One step from the precomputed input part ``xw`` (x W_ih^T + b_ih): (h', c')."""
    hw = F.linear(h, w_hh, b_hh)
    if mode == "LSTM":
        i, f, g, o = (xw + hw).chunk(4, -1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        return o.sigmoid() * c.tanh(), c
    if mode == "GRU":
        xr, xz, xn = xw.chunk(3, -1)
        hr, hz, hn = hw.chunk(3, -1)
        r, z = (xr + hr).sigmoid(), (xz + hz).sigmoid()
        n = (xn + r * hn).tanh()
        return (1 - z) * n + z * h, None
    pre = xw + hw
    return (pre.tanh() if mode == "RNN_TANH" else pre.relu()), None


class RNNBase(Module):
    """The shared multi-layer, bidirectional recurrence (use RNN, LSTM or GRU)."""

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        if not 0 <= dropout <= 1 or isinstance(dropout, bool):
            raise ValueError(
                "dropout should be a number in range [0, 1] representing the probability of "
                "an element being zeroed"
            )
        if hidden_size <= 0 or num_layers <= 0:
            raise ValueError("hidden_size and num_layers must be greater than zero")
        if proj_size:
            raise NotImplementedError("LSTM with proj_size > 0 is not supported by gpugrad")
        self.mode, self.input_size, self.hidden_size = mode, input_size, hidden_size
        self.num_layers, self.bias, self.batch_first = num_layers, bias, batch_first
        self.dropout, self.bidirectional, self.proj_size = float(dropout), bidirectional, 0
        gate = _GATES[mode] * hidden_size
        dirs = 2 if bidirectional else 1
        for layer in range(num_layers):
            for d in range(dirs):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                n_in = input_size if layer == 0 else hidden_size * dirs
                shapes = [("weight_ih", (gate, n_in)), ("weight_hh", (gate, hidden_size))]
                if bias:
                    shapes += [("bias_ih", (gate,)), ("bias_hh", (gate,))]
                for name, shape in shapes:
                    t = _creation.empty(shape, device=device, dtype=dtype)
                    setattr(self, name + sfx, Parameter(t))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -stdv, stdv)

    def flatten_parameters(self) -> None:
        """PyTorch packs the weights into one cuDNN buffer here; gpugrad has no cuDNN path,
        so, as PyTorch off cuDNN, this does nothing."""

    def _weights(self, layer: int, d: int) -> tuple:
        sfx = f"_l{layer}" + ("_reverse" if d else "")
        get = self._parameters.get
        return (
            get("weight_ih" + sfx),
            get("weight_hh" + sfx),
            get("bias_ih" + sfx),
            get("bias_hh" + sfx),
        )

    def forward(self, input, hx=None):
        from ..utils.rnn import PackedSequence

        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx)
        return self._forward(input, hx)

    def _forward_packed(self, packed, hx):
        """A PackedSequence in, one out: the padded batch in the packed (longest-first)
        order, each sequence's state frozen after its last step, then packed again; the
        states come back in the caller's batch order, as PyTorch's."""
        from ..utils.rnn import PackedSequence, _padded_sorted

        x, lengths = _padded_sorted(packed, 0.0)
        si, ui = packed.sorted_indices, packed.unsorted_indices
        if hx is not None and si is not None:
            if self.mode == "LSTM":
                hx = (hx[0].index_select(1, si), hx[1].index_select(1, si))
            else:
                hx = hx.index_select(1, si)
        steps = x.shape[0]
        lv = _creation.tensor(lengths, dtype=_dtype.int64, device=x.device)
        ts = _creation.arange(steps, device=x.device)
        mask = (ts.unsqueeze(1) < lv.unsqueeze(0)).unsqueeze(-1)  # (T, B, 1)
        out, state = self._forward(x, hx, mask=mask, batch_first=False)
        sizes = [int(b) for b in packed.batch_sizes.tolist()]
        data = cat([out[t, :b] for t, b in enumerate(sizes)], 0)
        if ui is not None:
            if self.mode == "LSTM":
                state = (state[0].index_select(1, ui), state[1].index_select(1, ui))
            else:
                state = state.index_select(1, ui)
        return PackedSequence(data, packed.batch_sizes, si, ui), state

    def _forward(self, input: Tensor, hx=None, mask=None, batch_first=None):
        is_lstm = self.mode == "LSTM"
        batch_first = self.batch_first if batch_first is None else batch_first
        batched = input.ndim == 3
        if input.ndim not in (2, 3):
            raise ValueError(
                f"{type(self).__name__}: Expected input to be 2D or 3D, got {input.ndim}D instead"
            )
        x = input if batched else input.unsqueeze(1)
        if batch_first and batched:
            x = x.transpose(0, 1)
        if x.shape[-1] != self.input_size:
            raise RuntimeError(
                f"input.size(-1) must be equal to input_size. Expected {self.input_size}, got "
                f"{x.shape[-1]}"
            )
        steps, n = x.shape[0], x.shape[1]
        dirs = 2 if self.bidirectional else 1
        want = (self.num_layers * dirs, n, self.hidden_size)
        if hx is None:
            zeros = _creation.zeros(want, dtype=x.dtype, device=x.device)
            h0, c0 = zeros, (zeros if is_lstm else None)
        else:
            h0, c0 = hx if is_lstm else (hx, None)
            if not batched:
                h0, c0 = h0.unsqueeze(1), (c0.unsqueeze(1) if c0 is not None else None)
            for name, s in (("hidden", h0), ("cell", c0)):
                if s is not None and tuple(s.shape) != want:
                    raise RuntimeError(f"Expected {name} size {want}, got {list(s.shape)}")
        h_last, c_last = [], []
        for layer in range(self.num_layers):
            outs = []
            for d in range(dirs):
                w_ih, w_hh, b_ih, b_hh = self._weights(layer, d)
                xw = F.linear(x, w_ih, b_ih)  # every step's input part in one matmul
                k = layer * dirs + d
                h, c = h0[k], (c0[k] if c0 is not None else None)
                seq = [None] * steps
                order = range(steps - 1, -1, -1) if d else range(steps)
                for t in order:
                    h1, c1 = _cell_step(self.mode, xw[t], h, c, w_hh, b_hh)
                    if mask is None:
                        h, c = h1, c1
                    else:  # packed input: a finished sequence keeps its last state
                        m = mask[t]
                        h = where(m, h1, h)
                        c = where(m, c1, c) if c is not None else None
                    seq[t] = h
                outs.append(stack(seq))
                h_last.append(h)
                c_last.append(c)
            x = outs[0] if dirs == 1 else cat(outs, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        out = x.transpose(0, 1) if batch_first and batched else x
        h_n = stack(h_last)
        if not batched:
            out, h_n = out.squeeze(1), h_n.squeeze(1)
        if not is_lstm:
            return out, h_n
        c_n = stack(c_last)
        return out, (h_n, c_n if batched else c_n.squeeze(1))

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:  # PyTorch's repr leaves a relu RNN's nonlinearity out
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(RNNBase):
    """Elman RNN: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(
                f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'."
            )
        mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        super().__init__(
            mode, input_size, hidden_size, num_layers, bias, batch_first, dropout,
            bidirectional, device=device, dtype=dtype,
        )  # fmt: skip
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory; gates i, f, g, o as in PyTorch; returns (out, (h_n, c_n))."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__("LSTM", *args, **kwargs)


class GRU(RNNBase):
    """Gated recurrent unit; gates r, z, n as in PyTorch."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__("GRU", *args, **kwargs)


class RNNCellBase(Module):
    """One step of a recurrent layer, with weight_ih/weight_hh/bias_ih/bias_hh."""

    mode = "RNN_TANH"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device=None,
        dtype=None,
        mode: str | None = None,
    ) -> None:
        super().__init__()
        if mode is not None:
            self.mode = mode
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        gate = _GATES[self.mode] * hidden_size
        self.weight_ih = Parameter(_creation.empty((gate, input_size), device=device, dtype=dtype))
        self.weight_hh = Parameter(_creation.empty((gate, hidden_size), device=device, dtype=dtype))
        if bias:
            self.bias_ih = Parameter(_creation.empty((gate,), device=device, dtype=dtype))
            self.bias_hh = Parameter(_creation.empty((gate,), device=device, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        stdv = 1.0 / math.sqrt(hidden_size)
        for p in self.parameters():
            init.uniform_(p, -stdv, stdv)

    def forward(self, input: Tensor, hx=None):
        batched = input.ndim == 2
        x = input if batched else input.unsqueeze(0)
        zeros = _creation.zeros((x.shape[0], self.hidden_size), dtype=x.dtype, device=x.device)
        if self.mode == "LSTM":
            h, c = (zeros, zeros) if hx is None else hx
            if not batched and hx is not None:
                h, c = h.unsqueeze(0), c.unsqueeze(0)
        else:
            h = zeros if hx is None else (hx if batched else hx.unsqueeze(0))
            c = None
        xw = F.linear(x, self.weight_ih, self.bias_ih)
        h, c = _cell_step(self.mode, xw, h, c, self.weight_hh, self.bias_hh)
        if not batched:
            h, c = h.squeeze(0), (c.squeeze(0) if c is not None else None)
        return (h, c) if self.mode == "LSTM" else h

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if self.mode == "RNN_RELU":
            s += ", nonlinearity=relu"
        return s


class RNNCell(RNNCellBase):
    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device=None,
        dtype=None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        super().__init__(input_size, hidden_size, bias, device, dtype, mode=mode)
        self.nonlinearity = nonlinearity


class LSTMCell(RNNCellBase):
    mode = "LSTM"


class GRUCell(RNNCellBase):
    mode = "GRU"
