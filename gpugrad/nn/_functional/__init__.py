"""Implementation modules behind ``gpugrad.nn.functional`` (import from there)."""
