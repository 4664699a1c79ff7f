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
