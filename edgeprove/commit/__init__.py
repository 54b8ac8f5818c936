"""Polynomial commitment: radix-2 NTT, Merkle trees over columns, and the Ligero-style multilinear PCS."""
