"""Integer model IR, quantization, static bounds, the zoo and ONNX import."""
