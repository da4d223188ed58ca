"""Small Darknet networks with random weights, for tests that need a model but not the shared ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from irs.inference.darknet import Unsupported, convert

# A small network of every layer type the builder converts, with random weights: checked against OpenCV without
# the shared models, so the fast tier covers what no installed model uses (route groups, as in yolov4-tiny).
DETECTOR = """[net]
width=64
height=64
channels=3

[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
activation=leaky

[maxpool]
size=2
stride=2

[convolutional]
batch_normalize=1
filters=16
size=3
stride=1
pad=1
groups=2
activation=leaky

[route]
layers=-1
groups=2
group_id=1

[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
groups=8
activation=relu

[shortcut]
from=-1
activation=linear

[route]
layers=-1,-4

[dropout]
probability=0.5

[maxpool]
size=2
stride=1

[convolutional]
filters=21
size=1
stride=1
pad=1
activation=linear

[yolo]
mask=0,1,2
anchors=10,14, 23,27, 37,58
classes=2
num=3
scale_x_y=1.05

[route]
layers=-4

[upsample]
stride=2

[convolutional]
filters=21
size=1
stride=1
pad=1
activation=linear

[yolo]
mask=0,1,2
anchors=10,14, 23,27, 37,58
classes=2
num=3
"""
CLASSIFIER = """[net]
width=32
height=32
channels=3

[convolutional]
batch_normalize=1
filters=8
size=3
stride=2
pad=1
activation=leaky

[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
groups=8
activation=leaky

[convolutional]
filters=10
size=1
stride=1
pad=1
activation=linear

[avgpool]

[softmax]
groups=1
"""


def network(tmp_path: Path, cfg: str, name: str) -> tuple[Path, Path]:
    """The cfg, with as many random weights as it needs (counted by building it with too many)."""
    cfg_path, weights_path = tmp_path / f"{name}.cfg", tmp_path / f"{name}.weights"
    cfg_path.write_text(cfg)
    header = np.array([0, 2, 0], np.int32).tobytes() + np.zeros(1, np.int64).tobytes()
    generous = np.random.default_rng(7).uniform(0.05, 0.3, 100_000).astype(np.float32)  # variances above 0
    weights_path.write_bytes(header + generous.tobytes())
    with pytest.raises(Unsupported, match=r"weights left over") as left:
        convert(cfg_path, weights_path)
    surplus = int(str(left.value).split(": ", 1)[1].split()[0])
    weights_path.write_bytes(header + generous[: len(generous) - surplus].tobytes())
    return cfg_path, weights_path
