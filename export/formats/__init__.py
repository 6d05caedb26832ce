"""One writer per artifact format: :mod:`.pte` (ExecuTorch), :mod:`.ptl` (TorchScript-lite),
:mod:`.onnx` and :mod:`.ort` (onnxruntime), sharing :mod:`.common`."""
