"""How doubtful a cut-out is: one number from how undecided the soft mask is over the subject.

A mask the model is sure of is 0 or 1 almost everywhere, with a thin
transition at the outline; a mask that hesitates (the wrong subject, a subject
blending into its background, several candidates) has wide areas near 0.5.
The score compares the undecided mass with the subject's area, so it does not
depend on how large the subject is. Validated on the shared evaluation sets by
its rank correlation with each image's IoU (docs/performance.md): a higher
score goes with a lower IoU.
"""
from __future__ import annotations

import numpy as np

from ..types import SoftMask


def uncertainty(soft: SoftMask) -> float:
    """0 (sure) .. 1 (nothing decided) for the model's soft mask (SxS float, 0..1).

    Each pixel counts 4 s (1 - s) as undecided (1 at s = 0.5, 0 at s = 0 or 1);
    the score is undecided / (undecided + subject area), the subject area being
    the pixels with s >= 0.5. A mask with no subject and no doubt (all zero)
    scores 1: there is nothing to be confident about. Rounded to 4 decimals.
    """
    s = np.clip(np.asarray(soft, dtype=np.float32), 0.0, 1.0)
    undecided = float((4.0 * s * (1.0 - s)).sum())
    area = float((s >= 0.5).sum())
    if undecided + area <= 0:
        return 1.0
    return round(undecided / (undecided + area), 4)
