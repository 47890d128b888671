"""Utilities: data loading, checkpointing, environment report (submodules import lazily)."""

_LAZY = ("data", "checkpoint", "collect_env")


def __getattr__(name: str):
    # `import gpugrad` then `gpugrad.utils.data.DataLoader`, as with torch
    if name in _LAZY:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'gpugrad.utils' has no attribute '{name}'")
