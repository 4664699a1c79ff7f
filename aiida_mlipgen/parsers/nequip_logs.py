"""Reading what ``nequip-train`` (NequIP 0.19, Lightning) leaves behind: the CSV metrics log and the text logs.

Plain functions, no AiiDA: the parser of ``NequipTrainCalculation`` calls them, and so do tests on
stored real output files. NequIP reports energies in eV (per atom for ``per_atom_energy_*``), forces
in eV/A and stresses in eV/A^3 over the 9 Cartesian components; we give stresses in GPa.
"""

from __future__ import annotations

import csv
import enum
import io
import math
import re
from dataclasses import dataclass

import numpy as np
from ase import units

#: 1 eV/A^3 in GPa.
EV_PER_A3_IN_GPA = 1.0 / units.GPa

#: (NequIP metric name, our name, factor from NequIP's unit to ours).
_METRICS = (
    ('per_atom_energy_mae', 'energy_mae_eV_per_atom', 1.0),
    ('per_atom_energy_rmse', 'energy_rmse_eV_per_atom', 1.0),
    ('forces_mae', 'forces_mae_eV_per_A', 1.0),
    ('forces_rmse', 'forces_rmse_eV_per_A', 1.0),
    ('stress_mae', 'stress_mae_GPa', EV_PER_A3_IN_GPA),
    ('stress_rmse', 'stress_rmse_GPa', EV_PER_A3_IN_GPA),
)
_TRAIN_LOSS = 'train_loss_epoch/weighted_sum'
_VAL_LOSS = 'val0_epoch/weighted_sum'
_LEARNING_RATE_PREFIX = 'lr-'

_OUT_OF_MEMORY = re.compile(
    r'out of memory|OutOfMemoryError|can\'t allocate memory|Cannot allocate memory|std::bad_alloc',
    re.IGNORECASE,
)
_ERROR_LINE = re.compile(r'^(?:[\w.]+\.)?\w*(?:Error|Exception)\b.*$', re.MULTILINE)


def _rows(csv_text: str) -> list[dict[str, str]]:
    """CSV rows that belong to an epoch.

    ``LearningRateMonitor`` logs at the start of an epoch without an epoch number: such a row belongs
    to the epoch of the next row that has one.
    """
    rows, pending = [], []
    for row in csv.DictReader(io.StringIO(csv_text)):
        if not row.get('epoch'):
            pending.append(row)
            continue
        for early in pending:
            early['epoch'] = row['epoch']
        rows.extend(pending)
        pending = []
        rows.append(row)
    return rows


def read_learning_curve(csv_text: str) -> dict[str, np.ndarray]:
    """Return one value per epoch from the Lightning CSV log (``outputs/csv/metrics.csv``).

    Keys: ``epoch`` (0-based, continuing across restarts), ``train_loss`` and ``val_loss`` (NequIP's
    weighted sums), ``learning_rate``, and ``train_*`` / ``val_*`` metrics named and converted as in
    :func:`final_validation_metrics`. NaN where an epoch has no value (e.g. not validated).
    """
    rows = _rows(csv_text)
    header = list(rows[0].keys()) if rows else []
    columns: dict[str, tuple[str, float]] = {_TRAIN_LOSS: ('train_loss', 1.0), _VAL_LOSS: ('val_loss', 1.0)}
    for nequip_name, our_name, factor in _METRICS:
        columns[f'train_metric_epoch/{nequip_name}'] = (f'train_{our_name}', factor)
        columns[f'val0_epoch/{nequip_name}'] = (f'val_{our_name}', factor)
    learning_rate = next((name for name in header if name.startswith(_LEARNING_RATE_PREFIX)), None)
    if learning_rate is not None:
        columns[learning_rate] = ('learning_rate', 1.0)
    present = {column: target for column, target in columns.items() if column in header}

    epochs = sorted({int(row['epoch']) for row in rows})
    position = {epoch: index for index, epoch in enumerate(epochs)}
    curve = {name: np.full(len(epochs), np.nan) for name, _ in present.values()}
    for row in rows:
        for column, (name, factor) in present.items():
            if row.get(column):
                curve[name][position[int(row['epoch'])]] = float(row[column]) * factor
    curve['epoch'] = np.asarray(epochs, dtype=int)
    return curve


def non_finite_loss_epochs(csv_text: str) -> list[int]:
    """Epochs in which a logged loss (training step or epoch, or validation) was NaN or infinite."""
    epochs = set()
    for row in _rows(csv_text):
        for column, value in row.items():
            is_loss = column.startswith(('train_loss', 'val0_epoch/weighted_sum'))
            if is_loss and value and not math.isfinite(float(value)):
                epochs.add(int(row['epoch']))
    return sorted(epochs)


def final_validation_metrics(curve: dict[str, np.ndarray]) -> dict[str, float | int]:
    """Validation metrics of the best epoch (lowest finite ``val_loss``), the one ``best.ckpt`` holds.

    Keys: ``energy_mae_eV_per_atom``, ``energy_rmse_eV_per_atom``, ``forces_mae_eV_per_A``,
    ``forces_rmse_eV_per_A``, ``stress_mae_GPa``, ``stress_rmse_GPa`` (when trained on stress),
    ``val_loss``, ``best_epoch`` and ``epochs_completed`` (last epoch + 1).

    :raises ValueError: if no epoch has a finite validation loss.
    """
    val_loss = curve.get('val_loss')
    if val_loss is None or not np.isfinite(val_loss).any():
        raise ValueError('no epoch has a finite validation loss')
    best = int(np.nanargmin(np.where(np.isfinite(val_loss), val_loss, np.nan)))
    metrics: dict[str, float | int] = {}
    for _, name, _ in _METRICS:
        values = curve.get(f'val_{name}')
        if values is not None and np.isfinite(values[best]):
            metrics[name] = float(values[best])
    metrics['val_loss'] = float(val_loss[best])
    metrics['best_epoch'] = int(curve['epoch'][best])
    metrics['epochs_completed'] = int(curve['epoch'][-1]) + 1
    return metrics


class TrainingOutcome(enum.Enum):
    """How a ``nequip-train`` run ended."""

    FINISHED = 'finished'  # reached max_epochs or stopped early on a plateau
    TIME_LIMIT = 'time_limit'  # Lightning's max_time stopped it cleanly
    NON_FINITE_LOSS = 'non_finite_loss'  # the loss became NaN or infinite
    OUT_OF_MEMORY = 'out_of_memory'
    FAILED = 'failed'  # any other error
    INCOMPLETE = 'incomplete'  # no sign of an end: killed (e.g. by the scheduler)


@dataclass(frozen=True)
class TrainingStatus:
    """The outcome of a run and, for failures, the line that says why."""

    outcome: TrainingOutcome
    message: str = ''


def training_status(log_text: str, stderr_text: str) -> TrainingStatus:
    """Tell how a run ended from Hydra's ``train.log`` and ``nequip-train``'s standard error.

    Lightning logs "`Trainer.fit` stopped: `max_epochs=...` reached" at the planned end, EarlyStopping
    "... did not improve in the last ..." on a plateau and "... is not finite" on a NaN loss, and the
    ``max_time`` timer "Time limit reached"; NequIP logs "TRAIN RUN END" once ``Trainer.fit`` returns.
    """
    text = f'{log_text}\n{stderr_text}'
    match = re.search(r'Monitored metric \S+ = \S+ is not finite', text)
    if match:
        return TrainingStatus(TrainingOutcome.NON_FINITE_LOSS, match.group(0))
    match = _OUT_OF_MEMORY.search(stderr_text)
    if match:
        line = next((line for line in stderr_text.splitlines() if match.group(0) in line), match.group(0))
        return TrainingStatus(TrainingOutcome.OUT_OF_MEMORY, line.strip())
    if 'Traceback' in stderr_text or 'Error executing job' in stderr_text:
        errors = _ERROR_LINE.findall(stderr_text)
        return TrainingStatus(TrainingOutcome.FAILED, errors[-1].strip() if errors else 'nequip-train failed')
    match = re.search(r'`Trainer\.fit` stopped: `max_(?:epochs|steps)=\d+` reached|did not improve in the last', text)
    if match and 'TRAIN RUN END' in log_text:
        return TrainingStatus(TrainingOutcome.FINISHED, match.group(0))
    match = re.search(r'Time limit reached\. Elapsed time is [\d:.]+', text)
    if match:
        return TrainingStatus(TrainingOutcome.TIME_LIMIT, match.group(0))
    if 'TRAIN RUN END' in log_text:
        return TrainingStatus(TrainingOutcome.FINISHED, 'TRAIN RUN END')
    return TrainingStatus(TrainingOutcome.INCOMPLETE, 'the run ended without NequIP logging the end of training')
