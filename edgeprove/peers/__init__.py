"""Other provers run side by side with edgeprove (EZKL), and the ONNX export they take as input."""
