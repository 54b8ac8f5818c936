"""One module per layer kind: witness generation, prover, verifier and memory estimate side by side."""
