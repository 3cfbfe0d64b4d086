"""Adobe's colorDecontamination reaches the engine: the job's cut-out edge changes with it."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from cutout.engine import images
from cutout.jobs import JobOptions
from cutout.jobs.render import make
from cutout.metering import Meter
from conftest import encode


def test_color_decontamination_zero_keeps_the_photo_and_one_recolours_the_edge(segmenter, coffee) -> None:
    data = encode(coffee, "PNG")
    limits = images.Limits(50.0, 50_000_000)
    meter = Meter(segmenter, limits)
    header = images.read_header(data, limits)
    products = {d: np.asarray(Image.open(io.BytesIO(make(
        data, JobOptions(format="png", decontaminate=d), meter=meter, header=header).data)))
        for d in (0.0, 1.0)}
    alpha = products[0.0][:, :, 3]
    edge = (alpha > 0) & (alpha < 255)
    solid = alpha == 255
    assert edge.sum() > 100
    assert np.array_equal(products[0.0][:, :, :3][edge], coffee[edge])  # 0: the photo's colours
    assert np.array_equal(products[1.0][:, :, :3][solid], coffee[solid])  # solid pixels never change
    changed = np.abs(products[1.0][:, :, :3][edge].astype(int) - coffee[edge]).max(axis=1) > 2
    assert changed.mean() > 0.2  # 1: the soft edge is recoloured
