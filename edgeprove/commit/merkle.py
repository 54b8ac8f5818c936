"""SHA-256 Merkle trees with domain-separated leaf and node hashing, stored level by level.

Leaves are byte strings hashed as H(0x00 || leaf); inner nodes are H(0x01 || left || right).  The leaf
count is padded to a power of two with a fixed padding digest H(0x02), which no real leaf or node can
produce without a SHA-256 collision.  A path is the concatenation of the sibling digests from the leaf
level up to (not including) the root; several leaves are opened together with each needed sibling sent
once (a multi-path).  Columns of a field matrix become leaves as their entries in little-endian u32.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

DIGEST_SIZE = 32
_LEAF_TAG = b"\x00"
_NODE_TAG = b"\x01"
PAD_DIGEST = hashlib.sha256(b"\x02").digest()
"""Digest standing in for the missing leaves of a tree whose leaf count is not a power of two."""


def hash_leaf(leaf: bytes | memoryview) -> bytes:
    """The leaf digest H(0x00 || leaf)."""
    h = hashlib.sha256(_LEAF_TAG)
    h.update(leaf)
    return h.digest()


def leaf_hasher() -> hashlib._Hash:
    """An incremental leaf hash: update it with a leaf's bytes in pieces; its digest is ``hash_leaf``'s."""
    return hashlib.sha256(_LEAF_TAG)


def hash_node(left: bytes, right: bytes) -> bytes:
    """The inner-node digest H(0x01 || left || right)."""
    return hashlib.sha256(_NODE_TAG + left + right).digest()


def column_bytes(column: np.ndarray) -> bytes:
    """A column of field elements as its leaf bytes: little-endian u32 per entry."""
    return np.ascontiguousarray(column, dtype="<u4").tobytes()


def tree_depth(num_leaves: int) -> int:
    """Number of levels above the leaves: log2 of the leaf count padded to a power of two."""
    return max(0, int(num_leaves) - 1).bit_length()


class MerkleTree:
    """A Merkle tree whose levels are kept as (count, 32) uint8 arrays, so openings are lookups."""

    def __init__(self, leaf_digests: np.ndarray, num_leaves: int) -> None:
        """Build the levels above ``leaf_digests`` (shape (num_leaves, 32))."""
        if num_leaves < 1:
            raise ValueError("a Merkle tree needs at least one leaf")
        width = 1 << tree_depth(num_leaves)
        padded = np.empty((width, DIGEST_SIZE), dtype=np.uint8)
        padded[:num_leaves] = leaf_digests
        padded[num_leaves:] = np.frombuffer(PAD_DIGEST, dtype=np.uint8)
        self.num_leaves = int(num_leaves)
        self.levels: list[np.ndarray] = [padded]
        while self.levels[-1].shape[0] > 1:
            pairs = self.levels[-1].tobytes()
            step = 2 * DIGEST_SIZE
            parents = b"".join(
                hashlib.sha256(_NODE_TAG + pairs[i : i + step]).digest() for i in range(0, len(pairs), step)
            )
            self.levels.append(np.frombuffer(parents, dtype=np.uint8).reshape(-1, DIGEST_SIZE))

    def _digest(self, level: int, index: int) -> bytes:
        """The digest of node ``index`` on ``level`` (0: the leaves)."""
        return self.levels[level][index].tobytes()

    @classmethod
    def from_leaves(cls, leaves: Sequence[bytes]) -> MerkleTree:
        """A tree over arbitrary byte-string leaves."""
        digests = b"".join(hash_leaf(leaf) for leaf in leaves)
        return cls(np.frombuffer(digests, dtype=np.uint8).reshape(-1, DIGEST_SIZE), len(leaves))

    def nbytes(self) -> int:
        """Bytes of the stored digests."""
        return sum(level.nbytes for level in self.levels)

    def holds_leaves(self, indices: Sequence[int] | np.ndarray, leaves: Sequence[bytes | memoryview]) -> bool:
        """Whether ``leaves`` (one per index) are the leaves this tree was built over at ``indices``."""
        return all(
            hash_leaf(leaf) == self._digest(0, int(i)) for i, leaf in zip(indices, leaves, strict=True)
        )

    @property
    def root(self) -> bytes:
        """The 32-byte root digest."""
        return self.levels[-1][0].tobytes()

    @property
    def depth(self) -> int:
        """Number of sibling digests in every path."""
        return len(self.levels) - 1

    def open(self, indices: Sequence[int] | np.ndarray) -> bytes:
        """One authentication of several leaves (sorted, distinct): level by level from the leaves up, the
        sibling digests the verifier cannot compute itself, each once (``multi_path_digests`` of them)."""
        nodes = _checked_indices(indices, self.num_leaves)
        if nodes is None:
            raise ValueError(f"leaf indices must be sorted, distinct and in [0, {self.num_leaves})")
        out = []
        for level in range(self.depth):
            present = set(nodes)
            out += [self._digest(level, i ^ 1) for i in nodes if i ^ 1 not in present]
            nodes = sorted({i >> 1 for i in nodes})
        return b"".join(out)


def _checked_indices(indices: object, num_leaves: int) -> list[int] | None:
    """The indices as a strictly increasing list within [0, num_leaves), or None."""
    try:
        nodes = [int(i) for i in np.asarray(indices, dtype=np.int64).reshape(-1)]
    except (TypeError, ValueError, OverflowError):
        return None
    if any(b <= a for a, b in zip(nodes, nodes[1:])) or (nodes and (nodes[0] < 0 or nodes[-1] >= num_leaves)):
        return None
    return nodes


def multi_path_digests(indices: Sequence[int], num_leaves: int) -> int:
    """How many digests ``MerkleTree.open`` sends for these sorted distinct leaves of a num_leaves tree."""
    nodes, count = list(indices), 0
    for _ in range(tree_depth(num_leaves)):
        present = set(nodes)
        count += sum(1 for i in nodes if i ^ 1 not in present)
        nodes = sorted({i >> 1 for i in nodes})
    return count


def verify(
    root: bytes, indices: Sequence[int], leaves: Sequence[bytes], proof: bytes, num_leaves: int
) -> bool:
    """True when ``proof`` (from ``MerkleTree.open``) shows that the leaves at the sorted, distinct
    ``indices`` of a ``num_leaves``-leaf tree are ``leaves``, consuming the proof exactly.

    Any malformed argument (indices out of order or range, a proof of the wrong length, non-bytes) is False.
    """
    if not isinstance(proof, (bytes, bytearray)) or not isinstance(root, (bytes, bytearray)):
        return False
    if not isinstance(num_leaves, (int, np.integer)) or num_leaves < 1 or len(root) != DIGEST_SIZE:
        return False
    nodes = _checked_indices(indices, num_leaves)
    if not nodes or len(leaves) != len(nodes):
        return False
    if len(proof) != DIGEST_SIZE * multi_path_digests(nodes, num_leaves):
        return False
    digests = {i: hash_leaf(leaf) for i, leaf in zip(nodes, leaves)}
    position = 0
    for _ in range(tree_depth(num_leaves)):
        parents: dict[int, bytes] = {}
        for i, digest in digests.items():
            if i >> 1 in parents:
                continue
            sibling = digests.get(i ^ 1)
            if sibling is None:
                sibling = bytes(proof[position : position + DIGEST_SIZE])
                position += DIGEST_SIZE
            parents[i >> 1] = hash_node(digest, sibling) if i % 2 == 0 else hash_node(sibling, digest)
        digests = parents
    return digests == {0: bytes(root)}
