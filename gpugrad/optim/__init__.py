"""Optimizers (``gpugrad.optim.SGD`` ...) and learning-rate schedulers (``optim.lr_scheduler``)."""

from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .adaptive import Adadelta, Adamax, NAdam, RAdam
from .lbfgs import LBFGS
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = [
    "Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adamax", "NAdam", "RAdam",
    "Adadelta", "LBFGS", "lr_scheduler",
]  # fmt: skip
