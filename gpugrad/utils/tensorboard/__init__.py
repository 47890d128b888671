"""TensorBoard logging (PyTorch's ``torch.utils.tensorboard``): ``SummaryWriter`` writes event
files through the ``tensorboard`` package, an optional extra."""

try:
    import tensorboard  # noqa: F401
    from tensorboard.summary.writer.record_writer import RecordWriter
except ImportError as e:
    raise ImportError(
        "gpugrad.utils.tensorboard needs the tensorboard package, which is not installed ("
        f'{e}); install it with: pip install "gpugrad[tensorboard]"'
    ) from None

from .writer import FileWriter, SummaryWriter

__all__ = ["FileWriter", "RecordWriter", "SummaryWriter"]
