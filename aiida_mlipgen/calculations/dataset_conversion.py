"""Calcfunctions that convert between ``DatasetData`` and structure nodes."""

from __future__ import annotations

from aiida import orm
from aiida.engine import calcfunction

from aiida_mlipgen.data.dataset import DatasetData


def frame_key(index: int) -> str:
    """Link label of frame ``index`` of a dataset: ``frame_00042``."""
    return f'frame_{index:05d}'


@calcfunction
def dataset_to_structures(dataset: DatasetData) -> dict[str, orm.StructureData]:
    """Split a dataset into one StructureData per frame, keyed ``frame_00000`` ... in file order."""
    return {frame_key(index): orm.StructureData(ase=atoms) for index, atoms in enumerate(dataset.get_atoms())}


@calcfunction
def structures_to_dataset(**structures: orm.StructureData) -> DatasetData:
    """One dataset of the ``structures``, in sorted key order, each frame's key kept as ``frame_key``."""
    frames = []
    for key in sorted(structures):
        atoms = structures[key].get_ase()
        atoms.info['frame_key'] = key
        frames.append(atoms)
    return DatasetData(frames)


@calcfunction
def batch_frames(dataset: DatasetData, frames_per_batch: orm.Int, excluded: orm.List) -> dict[str, DatasetData]:
    """The frames of ``dataset`` not in ``excluded``, in batches ``batch_0000``, ... of ``frames_per_batch``.

    Each frame keeps its info, with ``frame_key`` (from the dataset, else ``frame_<index>``); labels the
    frames may carry are dropped, so a batch can only be labelled anew.
    """
    skip = set(excluded.get_list())
    frames = []
    for index, atoms in enumerate(dataset.get_atoms()):
        key = atoms.info.get('frame_key', frame_key(index))
        if key in skip:
            continue
        copy = atoms.copy()  # copy() drops the calculator, hence the labels
        copy.info['frame_key'] = key
        frames.append(copy)
    size = frames_per_batch.value
    return {
        f'batch_{start // size:04d}': DatasetData(frames[start : start + size]) for start in range(0, len(frames), size)
    }
