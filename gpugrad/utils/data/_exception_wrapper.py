"""An exception caught in a DataLoader worker, carried to the main process and raised there
with the worker's traceback in its message (PyTorch's ``ExceptionWrapper``)."""

from __future__ import annotations

import pickle
import sys
import traceback


class KeyErrorMessage(str):
    """A str whose repr is itself: KeyError would otherwise print the traceback escaped."""

    def __repr__(self) -> str:
        return self


class ExceptionWrapper:
    """The type and formatted traceback of the exception being handled."""

    def __init__(self, exc_info=None, where: str = "in background") -> None:
        if exc_info is None:
            exc_info = sys.exc_info()
        self.exc_type = exc_info[0]
        # the traceback as text: traceback objects do not pickle and would keep frames alive
        self.exc_msg = "".join(traceback.format_exception(*exc_info))
        self.where = where
        try:  # a type defined where the main process cannot import it comes back as RuntimeError
            pickle.loads(pickle.dumps(self.exc_type))
        except Exception:
            self.exc_msg = f"{self.exc_type.__name__}: {self.exc_msg}"
            self.exc_type = RuntimeError

    def reraise(self):
        """Raise the wrapped exception's type here, e.g. "Caught ValueError in DataLoader
        worker process 0.\\nOriginal Traceback (most recent call last): ..."."""
        msg = f"Caught {self.exc_type.__name__} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:
            msg = KeyErrorMessage(msg)
        elif getattr(self.exc_type, "message", None):
            raise self.exc_type(message=msg)
        try:
            exception = self.exc_type(msg)
        except Exception:  # an exception type that does not take one message
            raise RuntimeError(msg) from None
        try:
            raise exception
        finally:  # this frame holding its own exception would be a cycle only gc breaks
            del exception
