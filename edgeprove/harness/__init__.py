"""Run a command under a real memory cap, sample its memory and report whether it fits."""
