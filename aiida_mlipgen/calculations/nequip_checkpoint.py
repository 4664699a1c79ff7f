"""How far a ``nequip-train`` (Lightning) checkpoint got: epochs, steps and seconds of training."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import IO


@dataclass(frozen=True)
class CheckpointProgress:
    """Progress stored in a Lightning checkpoint.

    :param epoch: epochs completed (the epoch a resumed run starts with).
    :param global_step: optimiser steps taken.
    :param training_seconds: training time that Lightning's ``Timer`` (``trainer.max_time``) counted, s;
        a resumed run counts on from it, so a time limit must add it.
    """

    epoch: int
    global_step: int
    training_seconds: float


def read_checkpoint_progress(source: str | Path | IO[bytes]) -> CheckpointProgress:
    """Read the progress of a checkpoint file (a path or a binary handle).

    Loads the file with ``torch.load`` on the CPU (Lightning checkpoints are pickles: only read
    checkpoints you trust, as ``nequip-train`` itself does on restart).
    """
    import torch

    checkpoint = torch.load(source, map_location='cpu', weights_only=False)
    timer_state = checkpoint.get('callbacks', {}).get('Timer', {})
    seconds = timer_state.get('time_elapsed', {}).get('train', 0.0)
    return CheckpointProgress(
        epoch=int(checkpoint.get('epoch', 0)),
        global_step=int(checkpoint.get('global_step', 0)),
        training_seconds=float(seconds),
    )
