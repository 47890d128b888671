"""``gpugrad.nn``: modules, parameters, functional ops, initialisation and utilities."""

from . import (  # noqa: F401
    functional,
    init,
    parallel,
    utils,
)
from .modules import *  # noqa: F401, F403
from .modules import Module  # noqa: F401
from .parameter import Buffer, Parameter  # noqa: F401
