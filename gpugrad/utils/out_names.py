"""Which of PyTorch's functions take ``out=``, read from real torch and written down as data.

gpugrad never imports torch at run time, so the faces (gpugrad.backend.quiet) read the list
from ``gpugrad/_out_names.py``, which ``python -m gpugrad.utils.out_names`` writes from the
installed torch (``--check``: exit 1 where the committed module is out of date;
tests/test_out_argument.py runs it).

A Python function of torch (``torch.functional.norm``, ``torch.tensordot`` ...) takes ``out``
where its signature has the parameter. A builtin has no signature to read: its argument parser
is asked. Called with ``out=`` set to an object of no type it takes, the parser names the
first argument it lacks or refuses; each is given a value of the type named (a Tensor is an
object with ``__torch_function__``, so nothing ever runs) until the parser reaches ``out``
("argument 'out' must be Tensor": it takes it), finds it extra ("unexpected keyword argument
'out'": it does not) or lists the overloads (it takes it where one of them has ``out``). Where
the parser says neither (overloads it hides, such as ``addmv``'s deprecated ones, answer
"unrecognized keyword arguments"), the ATen schemas decide: an overload with an out argument.
The schemas alone would overstate: torchgen's generated ``.out`` overloads (``flip.out``,
``zeros_like.out``, ``relu.out`` ...) have no Python binding.
"""

from __future__ import annotations

import inspect
import re
import sys
import types
from pathlib import Path

from .torch_artifact import real_torch, write_or_check

# torch's namespaces whose functions can take out= (Tensor methods never do; nn.functional's
# that do, such as normalize, take it in gpugrad's own signature)
NAMESPACES = ("torch", "torch.linalg", "torch.special")
MODULE = Path(__file__).resolve().parents[1] / "_out_names.py"


class _Dispatched(Exception):
    """The parser accepted every argument (never expected: ``out`` is always refused)."""


class _Refused:
    """A value of no type the parser takes."""


class _TensorLike:
    """Taken where the parser wants a Tensor; never computed with (dispatch raises)."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        raise _Dispatched


def _values() -> dict:
    import torch

    t = _TensorLike()
    return {
        "Tensor": t, "int": 1, "SymInt": 1, "float": 1.0, "Number": 1.0, "bool": False,
        "tuple of ints": (1,), "tuple of SymInts": (1,), "tuple of Tensors": (t,), "str": "x",
        "torch.dtype": torch.float32, "Dimname": "x",
    }  # fmt: skip


_MISSING = re.compile(r"missing \d+ required (?:positional |keyword-only )?arguments?: (.*)")
_REFUSED = re.compile(r"argument '(\w+)' (?:\(position \d+\) )?must be (.+?), not _Refused")


def _parser_says(fn, values: dict) -> bool | None:
    """Whether builtin ``fn``'s argument parser takes ``out``; None where it does not say."""
    kwargs: dict = {"out": _Refused()}
    for _ in range(16):
        try:
            fn(**kwargs)
        except TypeError as e:
            msg = str(e)
        except Exception:  # noqa: BLE001 - not the argument parser (a pybind or JIT binding)
            return False
        else:
            return False  # ran with out= unread: a binding that swallows keywords
        if "unexpected keyword argument 'out'" in msg or "incompatible function arguments" in msg:
            return False
        if "takes no keyword arguments" in msg:
            return False
        if "argument 'out' must be" in msg:
            return True
        if "expected one of:" in msg:
            return bool(re.search(r"\bTensors? out\b", msg.split("expected one of:", 1)[1]))
        if m := _MISSING.search(msg):
            for quoted in re.findall(r"[\"'](\w+)[\"']", m.group(1)):
                kwargs[quoted] = _Refused()
            continue
        if (m := _REFUSED.search(msg)) and m.group(2) in values:
            kwargs[m.group(1)] = values[m.group(2)]
            continue
        return None
    return None


def _schemas_say(fn) -> bool:
    import torch

    try:
        schemas = torch._C._jit_get_schemas_for_operator("aten::" + fn.__name__)
    except RuntimeError:
        return False
    return any(a.is_out for s in schemas for a in s.arguments)


def takes_out(obj, values: dict) -> bool:
    """Whether torch's callable ``obj`` takes ``out=``."""
    if isinstance(obj, types.BuiltinFunctionType):
        said = _parser_says(obj, values)
        return _schemas_say(obj) if said is None else said
    try:
        return "out" in inspect.signature(obj).parameters
    except (TypeError, ValueError):
        return False


def names() -> dict[str, list[str]]:
    """torch's namespace -> the sorted names of its public functions that take ``out=``."""
    import warnings

    from .api_coverage import torch_names

    values, out = _values(), {}
    with warnings.catch_warnings():  # reading deprecated names warns; nothing is computed
        warnings.simplefilter("ignore")
        for namespace in NAMESPACES:
            out[namespace] = sorted(
                name
                for name, obj in torch_names(namespace)
                if callable(obj)
                and not inspect.isclass(obj)
                and not isinstance(obj, types.ModuleType)
                and takes_out(obj, values)
            )
    return out


def render(table: dict[str, list[str]], torch_version: str) -> str:
    """The Python module gpugrad/_out_names.py."""
    lines = [
        f'"""The functions of PyTorch {torch_version} that take ``out=``, by namespace.',
        "",
        "Generated by ``python -m gpugrad.utils.out_names`` from the installed torch (do not edit",
        "by hand); the faces (gpugrad.backend.quiet) give these names, where gpugrad has them,",
        "PyTorch's ``out=`` (gpugrad.ops.out_argument).",
        '"""',
        "",
        f'TORCH_VERSION = "{torch_version}"',
        "",
        "OUT_NAMES: dict[str, frozenset[str]] = {",
    ]
    for namespace, found in table.items():
        lines.append(f'    "{namespace}": frozenset(')
        lines.append('        """')
        row: list[str] = []
        for name in found:
            if row and len(" ".join([*row, name])) > 87:
                lines.append("        " + " ".join(row))
                row = []
            row.append(name)
        if row:
            lines.append("        " + " ".join(row))
        lines.append('        """.split()')
        lines.append("    ),")
    lines.append("}")
    return "\n".join(lines) + "\n"


def generate() -> str:
    torch = real_torch("out_names")
    return render(names(), torch.__version__.split("+")[0])


def main(argv: list[str] | None = None) -> int:
    return write_or_check("out_names", MODULE, generate, argv)


if __name__ == "__main__":
    sys.exit(main())
