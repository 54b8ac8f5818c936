"""Tiling: a model rewritten so that large layers are computed, committed and proven a block of output
channels at a time (docs/design.md section 7.1).

A tiling names layers and a block count for each, ``((index, blocks), ...)``.  A layer is split with its
*tile group*: every layer joined to it channel by channel (``KindRules.channel_split``).  A "channels"
layer (pools, depthwise convolutions, gated products) computes its output channel c from channel c of its
input, its channel gates and its residual, and a "rows" layer (convolutions, dense maps) its block from the
whole input and the block's channels of its residual; each such channel-by-channel read ties the two
tensors into one group, in both directions.  Every member of a group is replaced, in place, by ``blocks``
layers of its kind over consecutive channel ranges ``[j*C//blocks, (j+1)*C//blocks)`` (same window and
scales; weights and bias the block's rows), reading the blocks of the group's tensors, and every other layer
that reads a member reads the concatenation of its blocks as sources of its own (only kinds whose map
splits over input channels may: ``source_rule`` "concat").

The rewritten model computes the same function, exactly: each output channel is the same integer
expression of the same values.  Its proof is the ordinary proof of the rewritten model, so nothing new is
trusted: the verifier rebuilds the same rewrite from the proof's header, which the transcript binds.  What
it buys is memory: a block's witness, committed vector and sumcheck tables are a fraction of the layer's,
and each block's commitment waits (or is spilled) on its own.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Iterable

from edgeprove.model.ir import MAX_LAYERS, Layer, Model, ModelError, RowBlock, label, source_views
from edgeprove.model.kinds import rules_of

Tiles = tuple[tuple[int, int], ...]
"""A tiling: (layer index, block count) pairs, indices increasing; () leaves the model as it is."""

MAX_BLOCKS = 64
"""Most blocks a tile group may be split into (a block of a 64-channel layer is one channel)."""


def check_tiles(tiles: object) -> Tiles:
    """A tiling from outside (a proof header, a command line) as ``Tiles``: a list of [index, blocks]
    pairs of ints, indices increasing, 2 <= blocks <= MAX_BLOCKS (ValueError with one line otherwise)."""
    if not isinstance(tiles, list | tuple) or len(tiles) > MAX_LAYERS:
        raise ValueError(f"tiles is not a list of at most {MAX_LAYERS} [layer, blocks] pairs")
    pairs = []
    for pair in tiles:
        if not isinstance(pair, list | tuple) or len(pair) != 2 or not all(type(v) is int for v in pair):
            raise ValueError("tiles holds an entry that is not a [layer, blocks] pair of integers")
        index, blocks = pair
        if not 2 <= blocks <= MAX_BLOCKS:
            raise ValueError(f"tiles splits a layer into {blocks} blocks, outside [2, {MAX_BLOCKS}]")
        if index < 0 or (pairs and index <= pairs[-1][0]):
            raise ValueError("tiles layer indices are not increasing non-negative integers")
        pairs.append((index, blocks))
    return tuple(pairs)


def tile_groups(model: Model, tiles: Iterable[tuple[int, int]]) -> dict[int, int]:
    """Every layer the tiling splits, with its block count: each named layer's tile group (ModelError when
    a group cannot be split, or two groups overlap with different counts)."""
    layers = model.layers
    readers: dict[int, list[int]] = {}
    whole: dict[int, list[int]] = {}  # tensor -> layers reading it whole (not channel by channel)
    joined: dict[int, list[int]] = {}  # layer -> the tensors it reads channel by channel
    for index, layer in enumerate(layers):
        positions = _joined_positions(model, layer)
        joined[index] = [layer.sources[p] for p in positions]
        joined[index] += [] if layer.residual is None else [layer.residual]
        for ref in joined[index]:
            readers.setdefault(ref, []).append(index)
        for position, ref in enumerate(layer.sources):
            if position not in positions:
                whole.setdefault(ref, []).append(index)
    blocks_of: dict[int, int] = {}
    for seed, blocks in tiles:
        if not 0 <= seed < len(layers):
            raise ModelError(f"tiles names layer {seed}, and the model has {len(layers)}")
        if seed in blocks_of:  # its group is known: each group is walked once, whatever the header lists
            group = [seed]
        else:
            group = _group(seed, joined, readers)
        for member in group:
            _check_member(model, member, blocks, whole)
            if blocks_of.setdefault(member, blocks) != blocks:
                raise ModelError(
                    f"layer {label(layers[member].name)} is tiled into both {blocks_of[member]} and "
                    f"{blocks} blocks"
                )
    return blocks_of


def _joined_positions(model: Model, layer: Layer) -> set[int]:
    """The sources a layer reads channel by channel (its residual always is): for a "channels" kind its
    input and every source of its channel count (channel gates; a pixel gate is read whole), else none."""
    if rules_of(layer).channel_split(layer) != "channels":
        return set()
    views = source_views(model.input_shape, model.layers, layer)
    return {i for i, view in enumerate(views) if i == 0 or view[0] == views[0][0]}


def _group(seed: int, joined: dict[int, list[int]], readers: dict[int, list[int]]) -> list[int]:
    """The layers tied to ``seed`` by channel-by-channel reads, either way (the model input included, as
    -1, so that the caller refuses it)."""
    group, queue = {seed}, deque([seed])
    while queue:
        member = queue.popleft()
        for other in (*joined.get(member, ()), *readers.get(member, ())):
            if other not in group:
                group.add(other)
                if other >= 0:
                    queue.append(other)
    return sorted(group)


def _check_member(model: Model, member: int, blocks: int, whole: dict[int, list[int]]) -> None:
    """A layer that can be split into ``blocks`` blocks with its group (ModelError naming why not)."""
    layers = model.layers
    if member < 0:
        raise ModelError("a tile group cannot hold the model input, which is read whole")
    layer = layers[member]
    where = f"layer {label(layer.name)}"
    if member == len(layers) - 1:
        raise ModelError(f"{where}: the model's output layer is not tiled")
    if rules_of(layer).channel_split(layer) == "none":
        raise ModelError(f"{where}: a {layer.kind} layer of this shape is not split into blocks")
    if blocks > layer.out_shape[0]:
        raise ModelError(f"{where}: {blocks} blocks of its {layer.out_shape[0]} channels")
    for reader in whole.get(member, ()):
        if rules_of(layers[reader]).source_rule != "concat":
            raise ModelError(
                f"{where}: layer {label(layers[reader].name)} reads it whole and cannot read its blocks"
            )


def block_bounds(channels: int, blocks: int) -> list[tuple[int, int]]:
    """The channel ranges of ``blocks`` blocks of ``channels`` channels, sizes differing by at most one."""
    cuts = [j * channels // blocks for j in range(blocks + 1)]
    return list(zip(cuts[:-1], cuts[1:], strict=True))


def tile(model: Model, tiles: Iterable[tuple[int, int]]) -> tuple[Model, list[int]]:
    """The model rewritten by ``tiles``, and for each of its layers the index of the layer it comes from
    (ModelError when the tiling cannot apply)."""
    try:
        tiles = check_tiles(tuple(tiles))
    except ValueError as exc:
        raise ModelError(str(exc)) from None
    if not tiles:
        return model, list(range(len(model.layers)))
    blocks_of = tile_groups(model, tiles)
    added = sum(blocks - 1 for blocks in blocks_of.values())
    if len(model.layers) + added > MAX_LAYERS:
        count = len(model.layers) + added
        raise ModelError(f"tiling makes {count:,} layers, above the ceiling of {MAX_LAYERS}")
    layers: list[Layer] = []
    weights, biases, origin = [], [], []
    new: dict[int, list[int]] = {-1: [-1]}  # old tensor -> its new indices (its blocks when tiled)
    for index, layer in enumerate(model.layers):
        blocks = blocks_of.get(index)
        joined = _joined_positions(model, layer) if blocks else set()
        parts = block_bounds(layer.out_shape[0], blocks) if blocks else [None]
        new[index] = []
        for j, part in enumerate(parts):
            sources, factors = [], []
            for position, (ref, factor) in enumerate(zip(layer.sources, layer.factors, strict=True)):
                refs = [new[ref][j]] if position in joined else new[ref]
                sources += refs
                factors += [factor] * len(refs)
            fields = {
                "source": sources[0],
                "extra_sources": tuple(sources[1:]),
                "upsample": tuple(factors) if any(f != 1 for f in factors) else (),
                "residual": None if layer.residual is None else new[layer.residual][j if blocks else 0],
            }
            if part is not None:
                fields.update(_block_fields(layer, *part, j))
            layers.append(dataclasses.replace(layer, **fields))
            weights.append(_block_weight(model, index, part))
            bias = model.biases[index]
            biases.append(bias if bias is None or part is None else bias[part[0] : part[1]])
            origin.append(index)
            new[index].append(len(layers) - 1)
    tiled = Model(model.name, model.input_shape, model.input_frac, layers, weights, biases)
    return tiled, origin


def _block_fields(layer: Layer, start: int, stop: int, j: int) -> dict:
    """A block's name, shapes and groups: output channels [start, stop), and for a "channels" kind the same
    input channels (a "rows" block reads the whole input, as the layer does)."""
    width = stop - start
    fields = {"name": f"{layer.name}.tile{j}", "out_shape": (width, *layer.out_shape[1:])}
    if rules_of(layer).channel_split(layer) == "channels":
        fields["in_shape"] = (width, *layer.in_shape[1:])
        if layer.groups != 1:
            fields["groups"] = width
    return fields


def _block_weight(model: Model, index: int, part: tuple[int, int] | None):
    """A block's weights: rows [start, stop) of the layer's, read lazily (None for a layer without)."""
    source = model.weights[index]
    if source is None or part is None:
        return source
    if isinstance(source, RowBlock):
        return RowBlock(source.source, source.start + part[0], source.start + part[1])
    return RowBlock(source, *part)
