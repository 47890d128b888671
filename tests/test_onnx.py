"""gpugrad.onnx: `import torch.onnx` works in a script with torch resolved to gpugrad;
export raises a clear error (a documented limit); the other common names act as PyTorch's
outside an export."""

from __future__ import annotations

import subprocess
import sys

import pytest

import gpugrad
import gpugrad.nn as nn
import gpugrad.onnx


def test_import_torch_onnx_with_torch_resolved_to_gpugrad():
    code = (
        "import sys, gpugrad\n"
        "sys.modules['torch'] = gpugrad\n"
        "import torch.onnx\n"
        "import torch\n"
        "print(torch.onnx.is_in_onnx_export(), torch.onnx is gpugrad.onnx)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


def test_export_raises_a_clear_error(tmp_path):
    model = nn.Linear(3, 2)
    with pytest.raises(gpugrad.onnx.OnnxExporterError, match="gpugrad does not export ONNX"):
        gpugrad.onnx.export(
            model,
            (gpugrad.randn(1, 3),),
            str(tmp_path / "m.onnx"),
            input_names=["x"],
            opset_version=17,
        )
    assert issubclass(gpugrad.onnx.OnnxExporterError, RuntimeError)  # as torch's
    assert not (tmp_path / "m.onnx").exists()


def test_names_match_torch():
    torch = pytest.importorskip("torch")
    assert gpugrad.onnx.is_in_onnx_export() is torch.onnx.is_in_onnx_export() is False
    for enum_name in ("TrainingMode", "OperatorExportTypes"):
        ours, theirs = getattr(gpugrad.onnx, enum_name), getattr(torch.onnx, enum_name)
        assert {m.name: int(m) for m in ours} == {n: int(v) for n, v in theirs.__members__.items()}
    gpugrad.onnx.register_custom_op_symbolic("custom::op", lambda g, x: x, 17)
    gpugrad.onnx.unregister_custom_op_symbolic("custom::op", 17)


def test_select_model_mode_for_export_restores_mode():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    with gpugrad.onnx.select_model_mode_for_export(model, gpugrad.onnx.TrainingMode.EVAL):
        assert not model.training and not model[1].training
    assert model.training and model[1].training
    model.eval()
    with gpugrad.onnx.select_model_mode_for_export(model, gpugrad.onnx.TrainingMode.TRAINING):
        assert model.training
    assert not model.training
    with pytest.raises(TypeError, match="should be a torch.onnx.TrainingMode enum"):
        with gpugrad.onnx.select_model_mode_for_export(model, 0):
            pass
