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

# How scripts run "with torch resolved to gpugrad": every torch.X module is gpugrad.X
_ALIAS = """
import importlib, importlib.abc, importlib.util, sys
import gpugrad

class Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            return importlib.util.spec_from_loader(name, self)
    def create_module(self, spec):
        return importlib.import_module("gpugrad" + spec.name[len("torch"):])
    def exec_module(self, module):
        pass

sys.meta_path.insert(0, Alias())
"""


def test_import_torch_onnx_with_torch_resolved_to_gpugrad():
    code = _ALIAS + (
        "import torch.onnx\n"
        "import torch\n"
        "import torch.nn as nn\n"
        "print(torch.onnx.is_in_onnx_export(), torch.onnx is gpugrad.onnx,\n"
        "      sys.modules['torch.onnx'] is gpugrad.onnx, nn.Linear is gpugrad.nn.Linear)\n"
        "try:\n"
        "    torch.onnx.export(nn.Linear(2, 2), (torch.randn(1, 2),), 'm.onnx')\n"
        "except torch.onnx.OnnxExporterError as e:\n"
        "    print('refused:', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["False", "True", "True", "True"]
    assert lines[1].startswith("refused: gpugrad does not export ONNX models")


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
