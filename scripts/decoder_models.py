"""Write small UNet-decoder models as compiled folders, to measure what concatenation, 2x upsampling and
scSE gating cost the prover.  Usage:
    python scripts/decoder_models.py OUT_DIR
writes OUT_DIR/unet_concat (two decoder convolutions, each over the deeper tensor upsampled 2x concatenated
with a skip), OUT_DIR/unet_plain (the same without the skips) and OUT_DIR/scse_block (a convolution, then
scSE attention: a channel gate through a global pool and a pixel gate, x * (g_c + g_s)).  Weights are
seeded int8, every shift the smallest the static bounds allow.  Then, for example:
    edgeprove prove OUT_DIR/unet_concat --out p.proof --threads 1 --json
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np

from edgeprove.model import compiled
from edgeprove.model.bounds import check_model
from edgeprove.model.ir import Layer, Model, ModelOverflowError

H, W = 64, 80


def integer_model(name: str, input_shape, layers: list[Layer], seed: int = 0) -> Model:
    """The layers with seeded int8 weights and biases, each shift raised until the static bounds hold."""
    rng = np.random.default_rng(seed)
    weights = [
        None if l.weight_shape is None else rng.integers(-60, 60, l.weight_shape).astype(np.int8)
        for l in layers
    ]
    biases = [
        None if layer.weight_shape is None else rng.integers(-200, 200, layer.out_shape[0])
        for layer in layers
    ]
    while True:
        model = Model(name, input_shape, 0, layers, weights, biases)
        try:
            check_model(model)
            return model
        except ModelOverflowError as exc:
            index = next(i for i, layer in enumerate(layers) if f"layer {layer.name}:" in str(exc))
            layers = list(layers)
            layers[index] = dataclasses.replace(layers[index], shift=layers[index].shift + 1)


def unet(concat: bool) -> Model:
    """Two stride-2 encoder convolutions, two decoder convolutions over the deeper tensor upsampled 2x (with
    the encoder tensor of that size concatenated when ``concat``), a 1x1 head."""
    layers = [
        Layer("enc1", "conv2d", -1, (3, H, W), (16, H // 2, W // 2), 6, "relu", 3, 2, 1),
        Layer("enc2", "conv2d", 0, (16, H // 2, W // 2), (24, H // 4, W // 4), 6, "relu", 3, 2, 1),
    ]
    if concat:
        layers += [
            Layer(
                "dec1",
                "conv2d",
                1,
                (40, H // 2, W // 2),
                (16, H // 2, W // 2),
                6,
                "relu",
                3,
                1,
                1,
                extra_sources=(0,),
                upsample=(2, 1),
            ),
            Layer(
                "dec0",
                "conv2d",
                2,
                (19, H, W),
                (8, H, W),
                6,
                "relu",
                3,
                1,
                1,
                extra_sources=(-1,),
                upsample=(2, 1),
            ),
        ]
    else:
        layers += [
            Layer(
                "dec1",
                "conv2d",
                1,
                (24, H // 2, W // 2),
                (16, H // 2, W // 2),
                6,
                "relu",
                3,
                1,
                1,
                upsample=(2,),
            ),
            Layer("dec0", "conv2d", 2, (16, H, W), (8, H, W), 6, "relu", 3, 1, 1, upsample=(2,)),
        ]
    layers.append(Layer("head", "conv2d", 3, (8, H, W), (4, H, W), 6, "clamp", 1))
    return integer_model("unet_concat" if concat else "unet_plain", (3, H, W), layers)


def scse_block(channels: int = 16, size: int = 64) -> Model:
    """x = conv3x3(input); g_c = relu(conv1x1(global pool(x))); g_s = relu(conv1x1(x) -> 1 channel);
    y = x * (g_c + g_s) (a power-of-two plane, so the global pool needs no rescale)."""
    shape = (channels, size, size)
    layers = [
        Layer("x", "conv2d", -1, (3, size, size), shape, 6, "clamp", 3, 1, 1),
        Layer("pool", "global_avgpool", 0, shape, (channels, 1, 1), 0, "relu"),
        Layer("cgate", "conv2d", 1, (channels, 1, 1), (channels, 1, 1), 6, "relu", 1),
        Layer("pgate", "conv2d", 0, shape, (1, size, size), 6, "relu", 1),
        Layer("scse", "gated_mul", 0, shape, shape, 0, "clamp", extra_sources=(2, 3)),
    ]
    return integer_model("scse_block", (3, size, size), layers)


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = Path(sys.argv[1])
    for model in (unet(True), unet(False), scse_block()):
        compiled.save(model, out / model.name)
        print(out / model.name)


if __name__ == "__main__":
    main()
