"""edgeprove: prove quantized neural-network inference within a device's memory, and measure that it fits."""

__version__ = "0.1.0"
