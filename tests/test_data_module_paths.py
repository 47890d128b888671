"""Every public name of real torch's ``torch.utils.data`` modules that gpugrad has is
importable at PyTorch's path (``torch.utils.data.sampler.RandomSampler`` ->
``gpugrad.utils.data.sampler.RandomSampler``), enumerated from torch itself."""

from __future__ import annotations

import importlib

import pytest

import gpugrad.utils.data as gdata

torch = pytest.importorskip("torch")

MODULES = [
    "",
    ".dataset",
    ".sampler",
    ".dataloader",
    "._utils.collate",
    "._utils.worker",
    "._utils.pin_memory",
]

# PyTorch names gpugrad does not provide (DataPipes are deprecated in PyTorch itself)
NOT_PROVIDED = {
    "DFIterDataPipe",
    "DataChunk",
    "IterDataPipe",
    "MapDataPipe",
    "functional_datapipe",
    "guaranteed_datapipes_determinism",
    "non_deterministic",
    "argument_validation",
    "runtime_validation",
    "runtime_validation_disabled",
    "DistributedSampler",  # gpugrad/utils/data/distributed.py (the distributed work)
    "ManagerWatchdog",  # a worker checks its parent's pid inline
    "collate",  # collate_fn_map-based dispatch; default_collate is provided
    "collate_float_fn",
    "collate_int_fn",
    "collate_numpy_array_fn",
    "collate_numpy_scalar_fn",
    "collate_str_fn",
    "collate_tensor_fn",
}


def public_names(mod) -> list[str]:
    names = getattr(mod, "__all__", None)
    if names is None:
        names = [
            n
            for n, v in vars(mod).items()
            if not n.startswith("_") and getattr(v, "__module__", None) == mod.__name__
        ]
    return sorted(n for n in names if not n.startswith("_"))


def every_gpugrad_name() -> set[str]:
    out = set()
    for sub in MODULES:
        try:
            out |= set(vars(importlib.import_module("gpugrad.utils.data" + sub)))
        except ImportError:
            pass
    return out


@pytest.mark.parametrize("sub", MODULES)
def test_names_at_pytorch_paths(sub):
    tmod = importlib.import_module("torch.utils.data" + sub)
    gmod = importlib.import_module("gpugrad.utils.data" + sub)
    have = every_gpugrad_name()
    expected = [n for n in public_names(tmod) if n not in NOT_PROVIDED or n in have]
    assert expected, f"torch.utils.data{sub} lists no public names"
    missing = [n for n in expected if not hasattr(gmod, n)]
    assert not missing, f"gpugrad.utils.data{sub} lacks {missing}"
    for n in expected:  # the same object wherever it is imported from
        top = getattr(gdata, n, None)
        if top is not None:
            assert getattr(gmod, n) is top


def test_default_collate_from_the_private_path():
    from gpugrad.utils.data._utils.collate import default_collate

    out = default_collate([(1, 2.0), (3, 4.0)])
    assert out[0].tolist() == [1, 3] and out[1].tolist() == [2.0, 4.0]
