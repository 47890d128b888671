"""Anomaly detection: name the failing backward node and show where its forward ran."""

from __future__ import annotations

from .. import _warn
from .grad_mode import state


def is_anomaly_enabled() -> bool:
    return state.anomaly


def is_anomaly_check_nan_enabled() -> bool:
    return state.anomaly_check_nan


class detect_anomaly:  # noqa: N801
    """Context manager: record forward tracebacks; raise on NaN gradients, naming the node."""

    def __init__(self, check_nan: bool = True) -> None:
        self.check_nan = check_nan
        _warn.warn(
            "Anomaly Detection has been enabled. This mode will increase the runtime and should "
            "only be enabled for debugging."
        )

    def __enter__(self) -> None:
        self.prev = (state.anomaly, state.anomaly_check_nan)
        state.anomaly, state.anomaly_check_nan = True, self.check_nan

    def __exit__(self, *exc) -> None:
        state.anomaly, state.anomaly_check_nan = self.prev

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__(self.check_nan):
                return fn(*args, **kwargs)

        return wrapper


class set_detect_anomaly:  # noqa: N801
    """Turn anomaly detection on or off (at once; also usable as a context manager)."""

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        self.prev = (state.anomaly, state.anomaly_check_nan)
        state.anomaly, state.anomaly_check_nan = bool(mode), check_nan

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc) -> None:
        state.anomaly, state.anomaly_check_nan = self.prev
