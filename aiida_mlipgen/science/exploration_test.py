"""The exploration test set: frames held out at random from what the loop explores, per condition.

A test set split off the initial set (rattled crystals) says nothing about the hot, strained or
disordered structures the loop explores. So every iteration draws a few explored frames per
condition, uniformly at random and not by deviation, to be labelled once and never trained on.
Frames the committee classes as ``failed`` (above the trust window's hi: MD that left the physical
region) are not drawn, since the loop never labels such frames for training either.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .contract import FAILED


@dataclass(frozen=True)
class ExplorationTestSettings:
    """How many explored frames each iteration holds out.

    :param per_condition: frames drawn per exploration condition and iteration (0: no exploration test set).
    :param min_frames: the first iterations draw more per condition until the set holds this many frames.
    :param seed: seed of the random draw (combined with the iteration number).
    """

    per_condition: int = 2
    min_frames: int = 20
    seed: int = 0

    def __post_init__(self):
        for name in ('per_condition', 'min_frames', 'seed'):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f'exploration_test.{name} must be a non-negative integer, got {value!r}')

    @classmethod
    def from_dict(cls, values: Mapping | None) -> ExplorationTestSettings:
        """Settings from a dict, refusing unknown keys."""
        values = dict(values or {})
        unknown = sorted(set(values) - {'per_condition', 'min_frames', 'seed'})
        if unknown:
            raise ValueError(f'unknown exploration_test keys {unknown}: use per_condition, min_frames, seed')
        return cls(**values)

    @property
    def enabled(self) -> bool:
        """Whether the loop holds out exploration frames at all."""
        return self.per_condition > 0

    def frames_per_condition(self, existing: int, num_conditions: int) -> int:
        """Frames to draw per condition now, given ``existing`` test frames and ``num_conditions`` conditions."""
        if not self.enabled or num_conditions == 0:
            return 0
        shortfall = max(self.min_frames - existing, 0)
        return max(self.per_condition, math.ceil(shortfall / num_conditions))


def draw_test_frames(
    conditions: Sequence[str],
    classes: Sequence[str],
    per_condition: int,
    seed: int,
    excluded: Sequence[int] = (),
) -> list[int]:
    """Indices of frames drawn uniformly at random, ``per_condition`` from each condition.

    :param conditions: each frame's condition label.
    :param classes: each frame's class (accurate, candidate, failed); failed frames are never drawn.
    :param excluded: indices that may not be drawn (e.g. the frames selected for training).
    :return: sorted indices; a condition with fewer eligible frames gives all it has.
    """
    if len(conditions) != len(classes):
        raise ValueError(f'{len(conditions)} condition labels for {len(classes)} frame classes')
    rng = np.random.default_rng(seed)
    skip = set(excluded)
    drawn = []
    for condition in sorted(set(conditions)):
        eligible = [
            index
            for index, (label, frame_class) in enumerate(zip(conditions, classes, strict=True))
            if label == condition and frame_class != FAILED and index not in skip
        ]
        count = min(per_condition, len(eligible))
        drawn.extend(int(index) for index in rng.choice(eligible, size=count, replace=False))
    return sorted(drawn)
