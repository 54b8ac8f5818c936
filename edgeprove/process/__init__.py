"""What every edgeprove process needs to end cleanly and report itself: outputs published atomically
(``atomic``), signals turned into one interruption (``interrupts``), owner tokens that tell a dead run's
leftovers from a live one's (``lifetime``), and the process's own peak memory as the kernel counts it
(``peak``)."""
