"""Unpickling a checkpoint's object: the restricted unpickler (``weights_only=True``) or, only
when asked, the full one, both answering PyTorch's globals with gpugrad's; errors become a
:class:`~.errors.CheckpointError` naming the file."""

from __future__ import annotations

import pickle
from typing import Any, BinaryIO

from .._tensor import Tensor
from . import weights_only as wo
from .errors import CheckpointError, WeightsOnlyError
from .rebuild import Rebuilder, RebuildError, UnsupportedTensor
from .storage import StorageType
from .torch_names import resolve, torch_table

# torch.load's own rename (pytorch#51633)
_MODULE_RENAMES = {"torch.tensor": "torch._tensor"}


# what a malformed pickle makes the restricted unpickler raise (stack, memo, struct, calls)
_CORRUPT = (EOFError, LookupError, ValueError, TypeError, ArithmeticError, AttributeError)


class CheckpointUnpickler:
    """Reads the pickles of one checkpoint file ``name`` into gpugrad objects."""

    def __init__(
        self,
        name: str,
        weights_only: bool,
        pickle_module=None,
        encoding: str = "utf-8",
        **pickle_load_args: Any,
    ) -> None:
        self.name, self.weights_only = name, weights_only
        self.pickle_module = pickle_module or pickle
        self.encoding, self.pickle_load_args = encoding, pickle_load_args
        self.rebuild = Rebuilder()
        self.table = torch_table(self.rebuild)
        self.allowed = {**self.table, **wo.base_globals()}

    def error(self, why: str, key: str | None = None) -> CheckpointError:
        """The error for this file; ``key``: the record or entry at fault, when there is one."""
        return CheckpointError(f"cannot load '{self.name}': {why}", path=self.name, key=key)

    def header(self, file: BinaryIO) -> Any:
        """A plain-data pickle of the file's own records (legacy magic number, storage keys)."""
        try:
            return wo.load(file, wo.base_globals(), encoding=self.encoding)
        except (pickle.UnpicklingError, EOFError, LookupError, ValueError, TypeError) as e:
            raise self.error(f"corrupted or not a PyTorch checkpoint ({e})") from None

    def load(self, file: BinaryIO, persistent_load) -> Any:
        """The object pickle, its storages fetched by ``persistent_load(pid)``."""
        if self.weights_only:
            restricted = wo.Unpickler(file, self.allowed, persistent_load, self.encoding)
            try:
                obj = restricted.load()
            except pickle.UnpicklingError as e:
                raise WeightsOnlyError(
                    f"cannot load '{self.name}': {wo.weights_only_message(str(e))}"
                ) from None
            except CheckpointError:
                raise
            except _CORRUPT as e:
                raise self.error(f"corrupted pickle ({type(e).__name__}: {e})") from None
        else:
            unpickler = self._full_unpickler(file)
            unpickler.persistent_load = persistent_load
            try:
                obj = unpickler.load()
            except CheckpointError:
                raise
            except (pickle.UnpicklingError, EOFError, RebuildError) as e:
                raise self.error(f"corrupted pickle ({type(e).__name__}: {e})") from None
        _refuse_unsupported(obj, self.name)
        return obj

    def storage_type(self, st: Any) -> StorageType:
        if isinstance(st, StorageType):
            return st
        raise self.error(f"a storage record names {st!r}, not a storage type")

    def _full_unpickler(self, file: BinaryIO):
        table, error = self.table, self.error

        class FullUnpickler(self.pickle_module.Unpickler):
            def find_class(self, module: str, name: str) -> Any:
                module = _MODULE_RENAMES.get(module, module)
                if module == "torch" or module.startswith("torch."):
                    full = f"{module}.{name}"
                    if full in table:
                        return table[full]
                    try:
                        return resolve(module, name)
                    except AttributeError as e:
                        raise error(str(e)) from None
                return super().find_class(module, name)

        return FullUnpickler(file, encoding=self.encoding, **self.pickle_load_args)


def _refuse_unsupported(obj: Any, name: str) -> None:
    """A tensor of a dtype gpugrad cannot hold is an error naming its key and dtype."""
    found = _find_unsupported(obj, [], set())
    if found is not None:
        path, t = found
        where = f"tensor '{path}'" if path else "a tensor"
        raise CheckpointError(
            f"cannot load '{name}': {where} has dtype torch.{t.dtype_name}, which gpugrad does "
            "not support (it holds bfloat16, float16/32/64, int8/16/32/64, uint8 and bool); "
            "convert it "
            "in PyTorch first, e.g. {k: v.float() for k, v in state_dict.items()}"
        )


def _find_unsupported(obj: Any, path: list[str], seen: set) -> tuple[str, UnsupportedTensor] | None:
    if isinstance(obj, UnsupportedTensor):
        return ".".join(path), obj
    if isinstance(obj, (str, bytes, int, float, Tensor, type)) or obj is None or id(obj) in seen:
        return None
    seen.add(id(obj))
    if isinstance(obj, dict):
        items = list(obj.items())
    elif isinstance(obj, (list, tuple, set, frozenset)):
        items = list(enumerate(obj))
    elif hasattr(obj, "__dict__"):
        items = []
        for key, v in vars(obj).items():
            if key in _MODULE_DICTS and isinstance(v, dict):
                items.extend(v.items())  # a module's own names: fc.weight
            else:
                items.append((key, v))
    else:
        return None
    for k, v in items:
        found = _find_unsupported(v, path + [str(k)], seen)
        if found is not None:
            return found
    return None


_MODULE_DICTS = ("_parameters", "_buffers", "_modules")
