"""gpugrad.Generator: a random-number stream of its own, as ``torch.Generator``."""

from __future__ import annotations

import os

from ._device import canonical


class Generator:
    """An independent random stream for one device; pass it as ``generator=``.

    ``Generator().manual_seed(0)`` makes sampling reproducible without touching the global
    stream that ``gpugrad.manual_seed`` seeds.
    """

    def __init__(self, device="cpu") -> None:
        self.device = canonical(device)
        self._seed = int.from_bytes(os.urandom(8), "little") >> 1
        self._rng = self.device.backend.new_rng(self._seed)

    def manual_seed(self, seed: int) -> Generator:
        self._seed = int(seed)
        self._rng = self.device.backend.new_rng(self._seed)
        return self

    def seed(self) -> int:
        """Reseed from OS entropy; returns the new seed."""
        self.manual_seed(int.from_bytes(os.urandom(8), "little") >> 1)
        return self._seed

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self):
        """The stream's state (the backend generator's own state object)."""
        return (
            self._rng.bit_generator.state if hasattr(self._rng, "bit_generator") else (self._seed)
        )

    def set_state(self, state) -> Generator:
        if hasattr(self._rng, "bit_generator") and isinstance(state, dict):
            self._rng.bit_generator.state = state
        else:
            self.manual_seed(int(state))
        return self

    def __repr__(self) -> str:
        return f"<gpugrad.Generator object at {id(self):#x} (device='{self.device}')>"


def rng_for(generator, dev):
    """The backend stream to draw from: the generator's, checked against the device."""
    if generator is None:
        return None
    if not isinstance(generator, Generator):
        raise TypeError(f"generator must be a gpugrad.Generator, not {type(generator).__name__}")
    if generator.device.type != dev.type:
        raise RuntimeError(
            f"Expected a '{dev.type}' device type for generator but found '{generator.device.type}'"
        )
    return generator._rng
