"""Merkle trees: every path verifies for any leaf count, and every tampering is rejected."""

import hashlib

import numpy as np
import pytest

from edgeprove import field as F
from edgeprove.commit import merkle


def leaves_of(count: int) -> list[bytes]:
    return [f"leaf-{i}".encode() * (i % 3 + 1) for i in range(count)]


@pytest.mark.parametrize("count", [1, 2, 3, 5, 8, 13])
def test_every_single_path_verifies(count):
    leaves = leaves_of(count)
    tree = merkle.MerkleTree.from_leaves(leaves)
    assert tree.depth == merkle.tree_depth(count)
    for i, leaf in enumerate(leaves):
        path = tree.open([i])
        assert len(path) == 32 * tree.depth == 32 * merkle.multi_path_digests([i], count)
        assert merkle.verify(tree.root, [i], [leaf], path, count)


@pytest.mark.parametrize("count, picks", [(13, [0, 1, 2, 12]), (64, [3, 5, 6, 7, 40, 63]), (8, range(8))])
def test_multi_paths_verify_and_send_each_sibling_once(count, picks):
    leaves = leaves_of(count)
    tree = merkle.MerkleTree.from_leaves(leaves)
    indices = list(picks)
    proof = tree.open(indices)
    assert len(proof) == 32 * merkle.multi_path_digests(indices, count)
    assert len(proof) < 32 * tree.depth * len(indices) or len(indices) == 1
    assert merkle.verify(tree.root, indices, [leaves[i] for i in indices], proof, count)
    if len(indices) == count:
        assert proof == b""  # every node is computed from the leaves


def test_root_matches_hand_computation_with_padding():
    a, b, c = b"a", b"bb", b"ccc"
    ha, hb, hc = (hashlib.sha256(b"\x00" + x).digest() for x in (a, b, c))
    left = hashlib.sha256(b"\x01" + ha + hb).digest()
    right = hashlib.sha256(b"\x01" + hc + merkle.PAD_DIGEST).digest()
    assert merkle.MerkleTree.from_leaves([a, b, c]).root == hashlib.sha256(b"\x01" + left + right).digest()
    assert merkle.MerkleTree.from_leaves([a]).root == ha


def test_column_bytes_are_little_endian_u32():
    matrix = F.random_base(np.random.default_rng(3), (7, 5))
    manual = b"".join(int(v).to_bytes(4, "little") for v in matrix[:, 2])
    assert merkle.column_bytes(matrix[:, 2]) == manual
    assert merkle.column_bytes(np.ascontiguousarray(matrix.T, dtype=np.uint32)[2]) == manual


def tampered(data: bytes, position: int) -> bytes:
    out = bytearray(data)
    out[position] ^= 1
    return bytes(out)


@pytest.fixture
def opened():
    leaves = leaves_of(6)
    tree = merkle.MerkleTree.from_leaves(leaves)
    return tree, leaves, tree.open([1, 4])


def test_altered_leaf_rejected(opened):
    tree, leaves, proof = opened
    assert not merkle.verify(tree.root, [1, 4], [leaves[1], leaves[4] + b"x"], proof, 6)


@pytest.mark.parametrize("position", [0, 40, 95, 127])
def test_altered_multi_path_rejected(opened, position):
    tree, leaves, proof = opened
    assert len(proof) == 128  # 1 and 4 share nothing below the root's children: two siblings each level
    assert not merkle.verify(tree.root, [1, 4], [leaves[1], leaves[4]], tampered(proof, position), 6)


def test_wrong_root_rejected(opened):
    tree, leaves, proof = opened
    assert not merkle.verify(tampered(tree.root, 0), [1, 4], [leaves[1], leaves[4]], proof, 6)


@pytest.mark.parametrize("indices", [[1, 5], [0, 4], [4, 1], [1, 1], [-1, 4], [1, 6], [1, 100], [1], []])
def test_wrong_out_of_order_or_out_of_range_indices_rejected(opened, indices):
    tree, leaves, proof = opened
    assert not merkle.verify(tree.root, indices, [leaves[1], leaves[4]][: len(indices)], proof, 6)


@pytest.mark.parametrize("num_leaves", [0, 3, 16])
def test_wrong_leaf_count_rejected(opened, num_leaves):
    tree, leaves, proof = opened
    assert not merkle.verify(tree.root, [1, 4], [leaves[1], leaves[4]], proof, num_leaves)


@pytest.mark.parametrize("bad_proof", [b"", b"\x00" * 96, b"\x00" * 160, "not bytes", None])
def test_malformed_multi_path_rejected(opened, bad_proof):
    tree, leaves, _ = opened
    assert not merkle.verify(tree.root, [1, 4], [leaves[1], leaves[4]], bad_proof, 6)


def test_leaf_count_must_match_indices(opened):
    tree, leaves, proof = opened
    assert not merkle.verify(tree.root, [1, 4], [leaves[1]], proof, 6)


def test_inner_node_cannot_pose_as_leaf():
    """Domain separation: the preimage of an inner node, offered as a leaf one level up, is rejected."""
    leaves = leaves_of(4)
    tree = merkle.MerkleTree.from_leaves(leaves)
    node_preimage = tree.levels[0][0].tobytes() + tree.levels[0][1].tobytes()
    upper_path = tree.levels[1][1].tobytes()
    assert not merkle.verify(tree.root, [0], [node_preimage], upper_path, 2)


@pytest.mark.parametrize("indices", [[3], [2, 1], [0, 0]])
def test_open_bad_indices_raises(indices):
    tree = merkle.MerkleTree.from_leaves(leaves_of(3))
    with pytest.raises(ValueError, match="sorted, distinct"):
        tree.open(indices)


def test_empty_tree_refused():
    with pytest.raises(ValueError, match="at least one leaf"):
        merkle.MerkleTree.from_leaves([])


@pytest.mark.parametrize("count", [1, 2, 5, 8])
def test_a_tree_tells_its_own_leaves(count):
    leaves = leaves_of(count)
    for tree in (merkle.MerkleTree.from_leaves(leaves), merkle.MerkleTree.from_leaves(leaves + [b"x"])):
        assert tree.holds_leaves(range(count), leaves)
        assert tree.holds_leaves([count - 1], [leaves[-1]])
        assert not tree.holds_leaves([0], [leaves[-1] + b"!"])
    assert merkle.MerkleTree.from_leaves(leaves).nbytes() == 32 * (2 * (1 << merkle.tree_depth(count)) - 1)


def test_incremental_leaf_hash_is_hash_leaf():
    data = bytes(range(256)) * 5
    hasher = merkle.leaf_hasher()
    for start in range(0, len(data), 100):
        hasher.update(data[start : start + 100])
    assert hasher.digest() == merkle.hash_leaf(data)
