"""``DatasetData``: a set of configurations (labelled or not) as one extxyz file in the node's repository."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from pathlib import Path

from aiida import orm
from ase import Atoms
from ase.io import read

from aiida_mlipgen.science.dataset_summary import content_hash, summarise_frames
from aiida_mlipgen.science.extxyz import extxyz_string


class DatasetData(orm.Data):
    """Configurations stored losslessly as ``dataset.extxyz``, with summary statistics as attributes.

    Attributes (queryable): ``num_frames``, ``num_atoms``, ``num_atoms_min``, ``num_atoms_max``,
    ``species``, ``has_energy``, ``has_forces``, ``has_stress``, ``energy_per_atom`` and
    ``force_component`` ({min, max, mean, std} in eV/atom and eV/A), ``sha256`` of the file.
    Labels follow ASE's extxyz conventions: total ``energy`` (eV), ``forces`` (eV/A), ``stress``
    (eV/A^3, positive = tensile). Optional ``labelling_settings`` records the DFT settings
    fingerprint of labelled data, so sets labelled differently can be told apart.
    """

    FILENAME = 'dataset.extxyz'

    def __init__(self, frames: Sequence[Atoms] | None = None, *, filepath: str | Path | None = None, **kwargs):
        """Build from ASE ``frames`` or from an extxyz file at ``filepath`` (read with ASE, then re-written)."""
        super().__init__(**kwargs)
        if (frames is None) == (filepath is None):
            raise ValueError('give exactly one of `frames` or `filepath`')
        if filepath is not None:
            try:
                frames = read(str(filepath), index=':', format='extxyz')
            except Exception as exception:  # noqa: BLE001 - ASE's reader raises many types for a corrupt file
                detail = ' '.join(str(exception).split()) or type(exception).__name__
                raise ValueError(f'{filepath}: not a readable extxyz file ({detail})') from None
        self._set_frames(list(frames))

    def _set_frames(self, frames: list[Atoms]) -> None:
        text = extxyz_string(frames)
        self.base.repository.put_object_from_bytes(text.encode('utf-8'), self.FILENAME)
        for key, value in summarise_frames(frames).items():
            self.base.attributes.set(key, value)
        self.base.attributes.set('sha256', content_hash(text))

    @classmethod
    def from_structures(cls, structures: Iterable[orm.StructureData], **kwargs) -> DatasetData:
        """Unlabelled dataset from StructureData nodes; each frame's info records the node's UUID."""
        frames = []
        for structure in structures:
            atoms = structure.get_ase()
            if structure.is_stored:
                atoms.info['structure_uuid'] = structure.uuid
            frames.append(atoms)
        return cls(frames, **kwargs)

    @property
    def num_frames(self) -> int:
        """Number of configurations."""
        return self.base.attributes.get('num_frames')

    @property
    def species(self) -> list[str]:
        """Sorted chemical symbols present in the set."""
        return self.base.attributes.get('species')

    @property
    def sha256(self) -> str:
        """SHA-256 of the extxyz file: equal for equal content."""
        return self.base.attributes.get('sha256')

    @property
    def labelling_settings(self) -> dict | None:
        """The DFT settings fingerprint of labelled data (see ``LabellingWorkChain``), or None."""
        return self.base.attributes.get('labelling_settings', None)

    def set_labelling_settings(self, settings: dict) -> None:
        """Record the DFT settings the labels were computed with (only before the node is stored)."""
        self.base.attributes.set('labelling_settings', settings)

    def get_text(self) -> str:
        """The extxyz file content."""
        return self.base.repository.get_object_content(self.FILENAME, mode='r')

    def get_atoms(self, index: int | slice | None = None) -> list[Atoms] | Atoms:
        """Frames as ASE Atoms with calculator results for the labels; one frame for an int ``index``."""
        frames = read(io.StringIO(self.get_text()), index=':', format='extxyz')
        return frames if index is None else frames[index]

    def get_structures(self) -> list[orm.StructureData]:
        """Frames as (unstored) StructureData."""
        return [orm.StructureData(ase=atoms) for atoms in self.get_atoms()]

    def export(self, path: str | Path) -> Path:
        """Write the extxyz file to ``path`` and return it."""
        path = Path(path)
        path.write_text(self.get_text(), encoding='utf-8')
        return path

    def _prepare_extxyz(self, main_file_name: str = '', **kwargs) -> tuple[bytes, dict]:
        """The extxyz file as bytes: the ``extxyz`` download format of the REST API and ``Data._exportcontent``."""
        return self.get_text().encode('utf-8'), {}
