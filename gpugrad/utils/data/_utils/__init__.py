"""The DataLoader's internals at PyTorch's paths (``torch.utils.data._utils``): collation,
fetching, worker processes, pinning. Programs import ``default_collate`` from here."""

from . import collate, fetch, pin_memory, worker

__all__ = ["collate", "fetch", "pin_memory", "worker"]
