"""Which of PyTorch's public API gpugrad covers, read from the code, so the page never drifts.

``python -m gpugrad.utils.api_coverage`` walks real torch's public namespaces (torch must be
installed), looks each name up at gpugrad's matching path (the one ``python -m
gpugrad.as_torch`` resolves ``torch.X`` to) and writes ``docs/api_coverage.md``: a table of
module, name, status (covered / missing) and notes, with totals per module. ``--check``
only compares: it exits 1 when the committed page is out of date.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
import types
import warnings
from dataclasses import dataclass
from pathlib import Path

from .torch_artifact import real_torch, write_or_check

# (torch's namespace, gpugrad's); a class path ("torch.Tensor") lists its attributes
NAMESPACES: tuple[tuple[str, str], ...] = (
    ("torch", "gpugrad"),
    ("torch.Tensor", "gpugrad.Tensor"),
    ("torch.nn", "gpugrad.nn"),
    ("torch.nn.functional", "gpugrad.nn.functional"),
    ("torch.linalg", "gpugrad.linalg"),
    ("torch.special", "gpugrad.special"),
    ("torch.optim", "gpugrad.optim"),
    ("torch.optim.lr_scheduler", "gpugrad.optim.lr_scheduler"),
    ("torch.utils.data", "gpugrad.utils.data"),
    ("torch.distributions", "gpugrad.distributions"),
    ("torch.distributed", "gpugrad.distributed"),
    ("torch.sparse", "gpugrad.sparse"),
    ("torch.cuda", "gpugrad.cuda"),
    ("torch.amp", "gpugrad.amp"),
    ("torch.autograd", "gpugrad.autograd"),
)

# What a bare "covered" would overstate: limits of names gpugrad has (kept short; the README's
# known limits say more)
NOTES: dict[tuple[str, str], str] = {
    ("torch", "compile"): "CPU: records a call's array work and replays it; no CUDA graphs",
    ("torch", "use_deterministic_algorithms"): "recorded; gpugrad's kernels do not change",
    ("torch", "set_num_threads"): "sets BLAS's and the Numba kernels' threads",
    ("torch", "get_num_threads"): "BLAS's and the Numba kernels' threads",
    ("torch.Tensor", "unfold"): "a copy where PyTorch returns a view",
    ("torch.nn", "RNN"): "a Python loop over time steps",
    ("torch.nn", "LSTM"): "a Python loop over time steps; no proj_size",
    ("torch.nn", "GRU"): "a Python loop over time steps",
    ("torch.nn.functional", "interpolate"): "no bicubic or area modes",
    ("torch.nn", "Upsample"): "no bicubic or area modes",
}

_STDLIB = set(sys.stdlib_module_names) | {"typing_extensions"}
PAGE = "api_coverage.md"


@dataclass(frozen=True)
class Row:
    module: str
    name: str
    covered: bool
    note: str


def _resolve(path: str):
    """The module or class at a dotted path, or None when it does not import."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr, None)
        return obj
    return None


def _foreign(obj, namespace: str, name: str) -> bool:
    """Something a namespace imported for its own use: a stdlib or typing helper, a module
    outside torch, or (in a submodule) a re-export of torch's own class."""
    if isinstance(obj, types.ModuleType):
        return not obj.__name__.startswith("torch.")
    module = getattr(obj, "__module__", None) or ""
    if module.split(".")[0] in _STDLIB:
        return True
    if isinstance(obj, bool) and name.isupper():  # TYPE_CHECKING, USE_GLOBAL_DEPS ...
        return True
    if isinstance(obj, (str, dict, list, tuple, set)):  # docs snippets, tables of modes
        return True
    if module.startswith("torch._jit_internal"):  # TorchScript's annotation helpers
        return True
    if namespace != "torch" and inspect.isclass(obj):
        torch = sys.modules["torch"]
        return getattr(torch, name, None) is obj and namespace != "torch.Tensor"
    return False


def torch_names(namespace: str) -> list[tuple[str, object]]:
    """The public names of one of torch's namespaces, with their objects."""
    ns = _resolve(namespace)
    if ns is None:
        return []
    if inspect.isclass(ns):
        names = {n for n in dir(ns) if not n.startswith("_")}
    else:
        declared = getattr(ns, "__all__", None)
        public = {n for n in dir(ns) if not n.startswith("_")}
        if declared is not None and namespace != "torch":
            # __all__ is the namespace's API; its public submodules are part of it too
            names = set(declared) | {
                n for n in public if isinstance(getattr(ns, n, None), types.ModuleType)
            }
        else:  # torch.__all__ leaves out from_dlpack, set_grad_enabled, strided ...
            names = public | set(declared or ())
    out = []
    for name in sorted(names):
        try:
            obj = getattr(ns, name)
        except Exception:  # noqa: BLE001 - a lazy attribute that fails is not API to list
            continue
        if not _foreign(obj, namespace, name):
            out.append((name, obj))
    return out


def _gpugrad_has(ours, gpugrad_path: str, name: str, obj) -> bool:
    if isinstance(obj, types.ModuleType):  # a submodule: importable as gpugrad's
        try:
            return importlib.util.find_spec(f"{gpugrad_path}.{name}") is not None
        except (ImportError, ValueError):
            return False
    try:
        return ours is not None and hasattr(ours, name)
    except Exception:  # noqa: BLE001 - a lazy attribute that fails to import: not there
        return False


# what kind of name a missing one is, where its kind says why few users miss it
_BACKEND_PREFIXES = ("cudnn_", "miopen_", "mkldnn_", "fbgemm_", "native_")


def _kind(name: str, obj) -> str:
    if type(obj).__name__ == "pybind11_type":
        return "TorchScript / C++ binding"
    if name.startswith(_BACKEND_PREFIXES):
        return "backend-specific kernel"
    if "quantiz" in name or name.startswith(("q_", "Q")):
        return "quantization"
    if name.endswith("Storage"):
        return "storage class"
    return ""


def _note(namespace: str, name: str, obj, covered: bool) -> str:
    notes = []
    if isinstance(obj, types.ModuleType):
        notes.append("module")
    elif not covered and _kind(name, obj):
        notes.append(_kind(name, obj))
    if (namespace, name) in NOTES and covered:
        notes.append(NOTES[namespace, name])
    doc = (inspect.getdoc(obj) or "") if callable(obj) or inspect.isclass(obj) else ""
    if "deprecated" in doc[:300].lower():
        notes.append("deprecated in PyTorch")
    return "; ".join(notes)


def rows() -> list[Row]:
    """One row per public PyTorch name, in NAMESPACES order then by name."""
    out = []
    with warnings.catch_warnings():  # reading deprecated names warns; nothing is called
        warnings.simplefilter("ignore")
        # import every namespace first: importing one can bind names on another (Tensor
        # methods), so the table must not depend on the order it is read in
        ours_by_path = {path: _resolve(path) for _, path in NAMESPACES}
        for namespace, gpugrad_path in NAMESPACES:
            ours = ours_by_path[gpugrad_path]
            for name, obj in torch_names(namespace):
                covered = _gpugrad_has(ours, gpugrad_path, name, obj)
                out.append(Row(namespace, name, covered, _note(namespace, name, obj, covered)))
    return out


def render(table: list[Row], torch_version: str) -> str:
    """The Markdown page."""
    lines = [
        "# PyTorch API coverage",
        "",
        "Generated from the code by `python -m gpugrad.utils.api_coverage` (do not edit by",
        f"hand): every public name of PyTorch {torch_version}'s namespaces below, and whether",
        "gpugrad has it at the same path (`torch.X.name` is `gpugrad.X.name`, which is what",
        "`python -m gpugrad.as_torch` resolves it to). *Covered* means the name exists; what",
        "it supports is in its docstring, the notes and the README's known limits.",
        "",
        "| module | covered | missing | total | covered % |",
        "|---|---:|---:|---:|---:|",
    ]
    for namespace, _ in NAMESPACES:
        mine = [r for r in table if r.module == namespace]
        n = sum(r.covered for r in mine)
        pct = 100.0 * n / len(mine) if mine else 0.0
        lines.append(
            f"| [`{namespace}`](#{_anchor(namespace)}) | {n} | {len(mine) - n} | {len(mine)} "
            f"| {pct:.0f}% |"
        )
    total = sum(r.covered for r in table)
    lines.append(
        f"| **all** | {total} | {len(table) - total} | {len(table)} | "
        f"{100.0 * total / max(len(table), 1):.0f}% |"
    )
    for namespace, _ in NAMESPACES:
        lines += [
            "",
            f"## {namespace}",
            "",
            "| module | name | status | notes |",
            "|---|---|---|---|",
        ]
        for r in table:
            if r.module == namespace:
                status = "covered" if r.covered else "missing"
                lines.append(f"| `{r.module}` | `{r.name}` | {status} | {r.note} |")
    return "\n".join(lines) + "\n"


def _anchor(namespace: str) -> str:
    return namespace.replace(".", "").lower()  # GitHub's heading ids: lower case, no dots


def default_page() -> Path:
    """docs/api_coverage.md of the checkout this module runs from (else under the cwd)."""
    repo = Path(__file__).resolve().parents[2]
    docs = repo / "docs" if (repo / "pyproject.toml").exists() else Path.cwd() / "docs"
    return docs / PAGE


def generate() -> str:
    torch = real_torch("api_coverage")
    return render(rows(), torch.__version__.split("+")[0])


def main(argv: list[str] | None = None) -> int:
    return write_or_check("api_coverage", default_page(), generate, argv)


if __name__ == "__main__":
    sys.exit(main())
