"""Utilities: data loading, checkpointing, environment report (submodules import lazily)."""
