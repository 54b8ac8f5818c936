"""Merkle trees: every path verifies for any leaf count, and every tampering is rejected."""

import hashlib

import numpy as np
import pytest

from edgeprove import field as F
from edgeprove.commit import merkle


def leaves_of(count: int) -> list[bytes]:
    return [f"leaf-{i}".encode() * (i % 3 + 1) for i in range(count)]


@pytest.mark.parametrize("count", [1, 2, 3, 5, 8, 13])
def test_every_path_verifies(count):
    leaves = leaves_of(count)
    tree = merkle.MerkleTree.from_leaves(leaves)
    assert tree.depth == merkle.tree_depth(count)
    paths = tree.open(range(count))
    for i, (leaf, path) in enumerate(zip(leaves, paths)):
        assert len(path) == 32 * tree.depth
        assert merkle.verify_path(tree.root, i, leaf, path, count)


def test_root_matches_hand_computation_with_padding():
    a, b, c = b"a", b"bb", b"ccc"
    ha, hb, hc = (hashlib.sha256(b"\x00" + x).digest() for x in (a, b, c))
    left = hashlib.sha256(b"\x01" + ha + hb).digest()
    right = hashlib.sha256(b"\x01" + hc + merkle.PAD_DIGEST).digest()
    assert merkle.MerkleTree.from_leaves([a, b, c]).root == hashlib.sha256(b"\x01" + left + right).digest()
    assert merkle.MerkleTree.from_leaves([a]).root == ha


def test_from_columns_hashes_columns_as_little_endian_u32():
    rng = np.random.default_rng(3)
    matrix = F.random_base(rng, (7, 5))
    tree = merkle.MerkleTree.from_columns(matrix)
    manual = [b"".join(int(v).to_bytes(4, "little") for v in matrix[:, c]) for c in range(5)]
    assert tree.root == merkle.MerkleTree.from_leaves(manual).root
    assert merkle.column_bytes(matrix[:, 2]) == manual[2]
    # a transposed uint32 column-major array gives the same tree
    assert merkle.MerkleTree.from_columns(np.ascontiguousarray(matrix.T, dtype=np.uint32).T).root == tree.root


def tampered(data: bytes, position: int) -> bytes:
    out = bytearray(data)
    out[position] ^= 1
    return bytes(out)


@pytest.fixture
def opened():
    leaves = leaves_of(6)
    tree = merkle.MerkleTree.from_leaves(leaves)
    return tree, leaves, tree.open([4])[0]


def test_altered_leaf_rejected(opened):
    tree, leaves, path = opened
    assert not merkle.verify_path(tree.root, 4, leaves[4] + b"x", path, 6)


@pytest.mark.parametrize("position", [0, 40, 95])
def test_altered_path_rejected(opened, position):
    tree, leaves, path = opened
    assert not merkle.verify_path(tree.root, 4, leaves[4], tampered(path, position), 6)


def test_wrong_root_rejected(opened):
    tree, leaves, path = opened
    assert not merkle.verify_path(tampered(tree.root, 0), 4, leaves[4], path, 6)


@pytest.mark.parametrize("index", [5, 0, -1, 6, 100])
def test_wrong_or_out_of_range_index_rejected(opened, index):
    tree, leaves, path = opened
    assert not merkle.verify_path(tree.root, index, leaves[4], path, 6)


@pytest.mark.parametrize("num_leaves", [0, 3, 16])
def test_wrong_leaf_count_rejected(opened, num_leaves):
    tree, leaves, path = opened
    assert not merkle.verify_path(tree.root, 4, leaves[4], path, num_leaves)


@pytest.mark.parametrize("bad_path", [b"", b"\x00" * 64, b"\x00" * 128, "not bytes", None])
def test_malformed_path_rejected(opened, bad_path):
    tree, leaves, _ = opened
    assert not merkle.verify_path(tree.root, 4, leaves[4], bad_path, 6)


def test_inner_node_cannot_pose_as_leaf():
    """Domain separation: the preimage of an inner node, offered as a leaf one level up, is rejected."""
    leaves = leaves_of(4)
    tree = merkle.MerkleTree.from_leaves(leaves)
    node_preimage = tree.levels[0][0].tobytes() + tree.levels[0][1].tobytes()
    upper_path = tree.levels[1][1].tobytes()
    assert not merkle.verify_path(tree.root, 0, node_preimage, upper_path, 2)


def test_open_out_of_range_raises():
    tree = merkle.MerkleTree.from_leaves(leaves_of(3))
    with pytest.raises(ValueError, match="out of range"):
        tree.open([3])


def test_empty_tree_refused():
    with pytest.raises(ValueError, match="at least one leaf"):
        merkle.MerkleTree.from_leaves([])
