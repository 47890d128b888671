"""The restricted unpickler of ``weights_only=True`` loads (PyTorch's semantics and messages).

It reads pickle opcodes itself and builds only what a state dict is made of: tensors (through
the rebuild functions), storages, dicts / OrderedDict / Counter, lists, tuples, sets, numbers,
strings, bytes, dtypes, devices and ``torch.Size``. A global outside that list is refused unless
the user allowlisted it (:mod:`.safe_globals`); nothing is imported, and ``os`` / ``sys``
globals are refused even when allowlisted. The checks and their texts follow
``torch/_weights_only_unpickler.py``.
"""

from __future__ import annotations

import pickle
import re
from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING
from codecs import encode
from collections import Counter, OrderedDict
from struct import unpack
from typing import Any, BinaryIO

from .. import _warn
from .safe_globals import user_allowed

_BLOCKED_MODULES = ("sys", "os", "posix", "nt")


UNSAFE_MESSAGE = (
    "In PyTorch 2.6, we changed the default value of the `weights_only` argument in `torch.load` "
    "from `False` to `True`. Re-running `torch.load` with `weights_only` set to `False` will "
    "likely succeed, but it can result in arbitrary code execution. Do it only if you got the "
    "file from a trusted source."
)
_DOCS_MESSAGE = (
    "\n\nCheck the documentation of torch.load to learn more about types accepted by default "
    "with weights_only https://pytorch.org/docs/stable/generated/torch.load.html."
)


def base_globals() -> dict[str, Any]:
    """The non-torch globals a weights-only load allows (PyTorch's list)."""
    return {
        "collections.OrderedDict": OrderedDict,
        "collections.Counter": Counter,
        "_codecs.encode": encode,  # bytes, as protocol 2 writes them
        "builtins.bytearray": bytearray,
        "builtins.set": set,
        "builtins.complex": complex,
    }


def weights_only_message(message: str) -> str:
    """PyTorch's ``Weights only load failed ...`` text around an unpickler error."""
    if re.search(r"GLOBAL (\S+) was not an allowed global by default.", message):
        return (
            "Weights only load failed. This file can still be loaded, to do so you have two "
            "options, \033[1mdo those steps only if you trust the source of the checkpoint"
            f"\033[0m. \n\t(1) {UNSAFE_MESSAGE}\n\t(2) Alternatively, to load with "
            "`weights_only=True` please check the recommended steps in the following error "
            "message.\n\tWeightsUnpickler error: " + message + _DOCS_MESSAGE
        )
    out = f"Weights only load failed. {UNSAFE_MESSAGE}\n"
    if not re.search(r"whose module (\S+) is blocked", message):
        out += (
            "Please file an issue with the following so that we can make `weights_only=True` "
            "compatible with your use case: WeightsUnpickler error: "
        )
    return out + "\n\n" + message + _DOCS_MESSAGE


def unsupported_global_message(full_path: str) -> str:
    if full_path.startswith("builtins."):
        full_path = full_path[len("builtins.") :]
    return (
        f"Unsupported global: GLOBAL {full_path} was not an allowed global by default. "
        f"Please use `torch.serialization.add_safe_globals([{full_path}])` or the "
        f"`torch.serialization.safe_globals([{full_path}])` context manager to allowlist this "
        "global if you trust this class/function."
    )


def python3_name(module: str, name: str) -> tuple[str, str]:
    """Protocol 2 names Python 3's modules by their Python 2 names (``__builtin__.set``)."""
    if (module, name) in NAME_MAPPING:
        return NAME_MAPPING[(module, name)]
    return IMPORT_MAPPING.get(module, module), name


class Unpickler:
    """Reads one pickle from ``file``; ``allowed`` maps full paths to the objects to use."""

    def __init__(
        self, file: BinaryIO, allowed: dict[str, Any], persistent_load, encoding: str = "utf-8"
    ) -> None:
        self.read, self.readline = file.read, file.readline
        self.allowed, self.user = allowed, user_allowed()
        self._allowed_values = list(allowed.values()) + list(self.user.values())
        self.persistent_load = persistent_load
        self.encoding = encoding
        self.memo: dict[int, Any] = {}

    def _is_allowed(self, obj: Any) -> bool:
        return any(obj is v for v in self._allowed_values)

    def load(self) -> Any:
        self.metastack: list[list] = []
        self.stack: list[Any] = []
        while True:
            key = self.read(1)
            if not key:
                raise EOFError("the pickle ends before its STOP opcode")
            op = _OPS.get(key[0])
            if op is None:
                raise pickle.UnpicklingError(f"Unsupported operand {key[0]}")
            if op is _stop:
                return self.stack.pop()
            op(self)

    def pop_mark(self) -> list:
        items, self.stack = self.stack, self.metastack.pop()
        return items

    def read_exact(self, n: int) -> bytes:
        data = self.read(n)
        if len(data) != n:
            raise EOFError("the pickle is truncated")
        return data

    def find_global(self, module: str, name: str) -> Any:
        module, name = python3_name(module, name)
        full_path = f"{module}.{name}"
        if module in _BLOCKED_MODULES:
            raise pickle.UnpicklingError(
                f"Trying to load unsupported GLOBAL {full_path} whose module {module} is blocked."
            )
        if full_path in self.allowed:
            return self.allowed[full_path]
        if full_path in self.user:
            return self.user[full_path]
        raise pickle.UnpicklingError(unsupported_global_message(full_path))


# ---- opcodes (protocol 2, as torch.save writes, and the plain data ones of 3-5) ------------
def _global(u: Unpickler) -> None:
    module = u.readline()[:-1].decode("utf-8")
    name = u.readline()[:-1].decode("utf-8")
    u.stack.append(u.find_global(module, name))


def _stack_global(u: Unpickler) -> None:
    name, module = u.stack.pop(), u.stack.pop()
    if not isinstance(module, str) or not isinstance(name, str):
        raise pickle.UnpicklingError("STACK_GLOBAL requires str")
    u.stack.append(u.find_global(module, name))


def _newobj(u: Unpickler) -> None:
    from ..nn import Parameter

    args, cls = u.stack.pop(), u.stack.pop()
    if cls is Parameter:
        u.stack.append(Parameter(*args))
    elif u._is_allowed(cls) and isinstance(cls, type):
        u.stack.append(cls.__new__(cls, *args))
    else:
        raise pickle.UnpicklingError(
            "Can only create new object for nn.Parameter or classes allowlisted via "
            f"`add_safe_globals` but got {cls}"
        )


def _reduce(u: Unpickler) -> None:
    args = u.stack.pop()
    func = u.stack[-1]
    if not u._is_allowed(func):
        msg = f"Trying to call reduce for unrecognized function {func}"
        if hasattr(func, "__self__"):
            msg += f" which belongs to {func.__self__}"
        raise pickle.UnpicklingError(msg)
    if not isinstance(args, tuple):
        raise pickle.UnpicklingError(f"REDUCE arguments must be a tuple, got {type(args)}")
    u.stack[-1] = func(*args)


def _build(u: Unpickler) -> None:
    from .._tensor import Tensor
    from ..nn import Parameter

    state = u.stack.pop()
    inst = u.stack[-1]
    if type(inst) is Tensor:
        raise pickle.UnpicklingError("legacy Tensor.set_ state records are not supported")
    if type(inst) is OrderedDict:
        if isinstance(state, dict):
            inst.__dict__.update(state)
        return
    if type(inst) is Parameter:  # user attributes only: the file never sets a tensor's insides
        if isinstance(state, dict):
            for k, v in state.items():
                if isinstance(k, str) and not k.startswith("_"):
                    setattr(inst, k, v)
        return
    if u._is_allowed(type(inst)):
        if hasattr(inst, "__setstate__"):
            inst.__setstate__(state)
            return
        slotstate = None
        if isinstance(state, tuple) and len(state) == 2:
            state, slotstate = state
        if state:
            inst.__dict__.update(state)
        if slotstate:
            for k, v in slotstate.items():
                setattr(inst, k, v)
        return
    raise pickle.UnpicklingError(
        "Can only build Tensor, Parameter, OrderedDict or types allowlisted via "
        f"`add_safe_globals`, but got {type(inst)}"
    )


def _append(u: Unpickler) -> None:
    item = u.stack.pop()
    if type(u.stack[-1]) is not list:
        raise pickle.UnpicklingError(f"Can only append to lists, but got {type(u.stack[-1])}")
    u.stack[-1].append(item)


def _appends(u: Unpickler) -> None:
    items = u.pop_mark()
    if type(u.stack[-1]) is not list:
        raise pickle.UnpicklingError(f"Can only extend lists, but got {type(u.stack[-1])}")
    u.stack[-1].extend(items)


def _check_dict(u: Unpickler, opcode: str) -> None:
    if type(u.stack[-1]) not in (dict, OrderedDict, Counter):
        raise pickle.UnpicklingError(
            f"Can only {opcode} for dict, collections.OrderedDict, collections.Counter, but "
            f"got {type(u.stack[-1])}"
        )


def _setitem(u: Unpickler) -> None:
    v, k = u.stack.pop(), u.stack.pop()
    _check_dict(u, "SETITEM")
    u.stack[-1][k] = v


def _setitems(u: Unpickler) -> None:
    items = u.pop_mark()
    _check_dict(u, "SETITEMS")
    for i in range(0, len(items) - 1, 2):
        u.stack[-1][items[i]] = items[i + 1]


def _additems(u: Unpickler) -> None:
    items = u.pop_mark()
    if type(u.stack[-1]) is not set:
        raise pickle.UnpicklingError(f"Can only add items to sets, but got {type(u.stack[-1])}")
    u.stack[-1].update(items)


def _mark(u: Unpickler) -> None:
    u.metastack.append(u.stack)
    u.stack = []


def _tuple(u: Unpickler) -> None:
    items = tuple(u.pop_mark())  # before naming u.stack: pop_mark replaces it
    u.stack.append(items)


def _tuple_n(n: int):
    def op(u: Unpickler) -> None:
        if len(u.stack) < n:
            raise pickle.UnpicklingError("the pickle's stack underflows")
        items = tuple(u.stack[len(u.stack) - n :])
        del u.stack[len(u.stack) - n :]
        u.stack.append(items)

    return op


def _push(value_factory):
    return lambda u: u.stack.append(value_factory())


def _binpersid(u: Unpickler) -> None:
    pid = u.stack.pop()
    if type(pid) is not tuple and type(pid) is not int:
        raise pickle.UnpicklingError(
            f"persistent_load id must be tuple or int, but got {type(pid)}"
        )
    if type(pid) is tuple and len(pid) > 0 and _ascii(pid[0]) != "storage":
        raise pickle.UnpicklingError(
            f"Only persistent_load of storage is allowed, but got {type(pid[0])}"
        )
    u.stack.append(u.persistent_load(pid))


def _ascii(s: Any) -> Any:
    return s.decode("ascii") if isinstance(s, bytes) else s


def _get(n: int, fmt: str | None):
    def op(u: Unpickler) -> None:
        raw = u.read_exact(n)
        idx = raw[0] if fmt is None else unpack(fmt, raw)[0]
        if idx not in u.memo:
            raise pickle.UnpicklingError(f"Memo value not found at index {idx}")
        u.stack.append(u.memo[idx])

    return op


def _put(n: int, fmt: str | None):
    def op(u: Unpickler) -> None:
        raw = u.read_exact(n)
        u.memo[raw[0] if fmt is None else unpack(fmt, raw)[0]] = u.stack[-1]

    return op


def _memoize(u: Unpickler) -> None:
    u.memo[len(u.memo)] = u.stack[-1]


def _int(n: int, fmt: str):
    return lambda u: u.stack.append(unpack(fmt, u.read_exact(n))[0])


def _long(n: int, fmt: str):
    def op(u: Unpickler) -> None:
        size = unpack(fmt, u.read_exact(n))[0]
        if size < 0:
            raise pickle.UnpicklingError("LONG pickle has negative byte count")
        u.stack.append(pickle.decode_long(u.read_exact(size)))

    return op


def _unicode(n: int, fmt: str):
    def op(u: Unpickler) -> None:
        size = unpack(fmt, u.read_exact(n))[0]
        u.stack.append(str(u.read_exact(size), "utf-8", "surrogatepass"))

    return op


def _bytes(n: int, fmt: str):
    return lambda u: u.stack.append(u.read_exact(unpack(fmt, u.read_exact(n))[0]))


def _short_binstring(u: Unpickler) -> None:
    data = u.read_exact(u.read_exact(1)[0])
    u.stack.append(data.decode(u.encoding, "strict") if u.encoding != "bytes" else data)


def _binfloat(u: Unpickler) -> None:
    u.stack.append(unpack(">d", u.read_exact(8))[0])


def _proto(u: Unpickler) -> None:
    proto = u.read_exact(1)[0]
    if proto != 2:
        _warn.warn(
            f"Detected pickle protocol {proto} in the checkpoint, which was not the default "
            "pickle protocol used by `torch.load` (2). The weights_only Unpickler might not "
            "support all instructions implemented by this protocol, please file an issue for "
            "adding support if you encounter this."
        )


def _frame(u: Unpickler) -> None:
    u.read_exact(8)  # frames only group opcodes; the stream reads the same without them


def _frozenset(u: Unpickler) -> None:
    items = frozenset(u.pop_mark())
    u.stack.append(items)


def _stop(u: Unpickler) -> None:  # handled in load()
    pass


_O = pickle
_OPS = {
    _O.GLOBAL[0]: _global,
    _O.STACK_GLOBAL[0]: _stack_global,
    _O.NEWOBJ[0]: _newobj,
    _O.REDUCE[0]: _reduce,
    _O.BUILD[0]: _build,
    _O.APPEND[0]: _append,
    _O.APPENDS[0]: _appends,
    _O.SETITEM[0]: _setitem,
    _O.SETITEMS[0]: _setitems,
    _O.ADDITEMS[0]: _additems,
    _O.MARK[0]: _mark,
    _O.TUPLE[0]: _tuple,
    _O.TUPLE1[0]: _tuple_n(1),
    _O.TUPLE2[0]: _tuple_n(2),
    _O.TUPLE3[0]: _tuple_n(3),
    _O.FROZENSET[0]: _frozenset,
    _O.NONE[0]: _push(lambda: None),
    _O.NEWFALSE[0]: _push(lambda: False),
    _O.NEWTRUE[0]: _push(lambda: True),
    _O.EMPTY_TUPLE[0]: _push(tuple),
    _O.EMPTY_LIST[0]: _push(list),
    _O.EMPTY_DICT[0]: _push(dict),
    _O.EMPTY_SET[0]: _push(set),
    _O.BININT[0]: _int(4, "<i"),
    _O.BININT1[0]: _int(1, "<B"),
    _O.BININT2[0]: _int(2, "<H"),
    _O.LONG1[0]: _long(1, "<B"),
    _O.LONG4[0]: _long(4, "<i"),
    _O.BINFLOAT[0]: _binfloat,
    _O.BINUNICODE[0]: _unicode(4, "<I"),
    _O.SHORT_BINUNICODE[0]: _unicode(1, "<B"),
    _O.BINUNICODE8[0]: _unicode(8, "<Q"),
    _O.SHORT_BINSTRING[0]: _short_binstring,
    _O.BINBYTES[0]: _bytes(4, "<I"),
    _O.SHORT_BINBYTES[0]: _bytes(1, "<B"),
    _O.BINBYTES8[0]: _bytes(8, "<Q"),
    _O.BINPERSID[0]: _binpersid,
    _O.BINGET[0]: _get(1, None),
    _O.LONG_BINGET[0]: _get(4, "<I"),
    _O.BINPUT[0]: _put(1, None),
    _O.LONG_BINPUT[0]: _put(4, "<I"),
    _O.MEMOIZE[0]: _memoize,
    _O.PROTO[0]: _proto,
    _O.FRAME[0]: _frame,
    _O.STOP[0]: _stop,
}


def load(
    file: BinaryIO, allowed: dict[str, Any], persistent_load=None, encoding: str = "utf-8"
) -> Any:
    """One object from ``file`` through the restricted unpickler."""

    def no_persistent(pid):
        raise pickle.UnpicklingError("unsupported persistent id encountered")

    return Unpickler(file, allowed, persistent_load or no_persistent, encoding).load()
