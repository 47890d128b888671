"""Every public class and function of torch.nn.modules.*, torch.nn.utils.* and torch.optim.*
that gpugrad has (anywhere in its matching package) is importable at PyTorch's module path,
and is the same object there as on gpugrad's public face."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import gpugrad  # noqa: F401

torch = pytest.importorskip("torch")

PACKAGES = [
    ("torch.nn.modules", "gpugrad.nn.modules"),
    ("torch.nn.utils", "gpugrad.nn.utils"),
    ("torch.optim", "gpugrad.optim"),
]


def _public(module) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:  # no __all__: the classes and functions the module itself defines
        names = [
            n
            for n, v in vars(module).items()
            if (inspect.isclass(v) or inspect.isfunction(v))
            and getattr(v, "__module__", "") == module.__name__
        ]
    return sorted(n for n in names if not n.startswith("_"))


def _submodules(package_name: str) -> list[str]:
    pkg = importlib.import_module(package_name)
    out = [package_name]
    for info in pkgutil.walk_packages(pkg.__path__, package_name + "."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            out.append(info.name)
    return out


def _gpugrad_objects(package_name: str) -> dict[str, list]:
    """Public classes and functions defined anywhere in gpugrad's package, by name."""
    found: dict[str, list] = {}
    for name in _submodules(package_name):
        for n, v in vars(importlib.import_module(name)).items():
            if n.startswith("_") or not (inspect.isclass(v) or inspect.isfunction(v)):
                continue
            if getattr(v, "__module__", "").startswith("gpugrad") and all(
                v is not w for w in found.get(n, [])
            ):
                found.setdefault(n, []).append(v)
    return found


def _cases():
    for torch_pkg, ours in PACKAGES:
        have = _gpugrad_objects(ours)
        for torch_mod in _submodules(torch_pkg):
            try:
                module = importlib.import_module(torch_mod)
            except Exception:  # an optional dependency of torch's own: nothing to mirror
                continue
            for n in _public(module):
                if n in have:
                    yield torch_mod, ours + torch_mod[len(torch_pkg) :], n, have[n]


CASES = list(_cases())


def test_enough_names_are_covered():
    # guards the enumeration itself: gpugrad covers well over a hundred of these names
    assert len(CASES) > 150
    assert {
        ("torch.nn.modules.activation", "MultiheadAttention"),
        ("torch.optim.adamw", "AdamW"),
        ("torch.nn.modules.upsampling", "Upsample"),
        ("torch.nn.utils.rnn", "pad_sequence"),
    } <= {(c[0], c[2]) for c in CASES}


@pytest.mark.parametrize(
    "torch_mod, ours, name, objects", CASES, ids=[f"{c[0]}.{c[2]}" for c in CASES]
)
def test_importable_at_torch_path(torch_mod, ours, name, objects):
    module = importlib.import_module(ours)
    assert hasattr(module, name), f"{ours}.{name} (PyTorch: {torch_mod}.{name}) is missing"
    obj = getattr(module, name)
    assert any(obj is o for o in objects)
    # and it is the object the public face gives (gpugrad.nn.Linear, gpugrad.optim.AdamW ...)
    face = _face(ours)
    public = getattr(importlib.import_module(face), name, None)
    if inspect.isclass(public) or inspect.isfunction(public):
        assert public is obj, f"{ours}.{name} is not {face}.{name}"


def _face(path: str) -> str:
    """The public namespace that re-exports what lives under ``path``."""
    for prefix, face in (
        ("gpugrad.optim.lr_scheduler", "gpugrad.optim.lr_scheduler"),
        ("gpugrad.nn.modules", "gpugrad.nn"),
        ("gpugrad.nn.utils", "gpugrad.nn.utils"),
    ):
        if path.startswith(prefix):
            return face
    return "gpugrad.optim"
