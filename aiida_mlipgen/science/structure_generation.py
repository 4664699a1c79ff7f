"""One entry point for every structure generator beyond supercells, rattles and strains.

``GENERATORS`` names each generator family as the initial-set recipe and the calcfunctions spell it;
:func:`generate_structures` runs one on one seed structure from a plain settings dict, building the
classical potential it needs (melt-quench MD, phonon force constants) by name.
"""

from __future__ import annotations

from collections.abc import Mapping

from ase import Atoms

from aiida_mlipgen.science.alloys import AlloySettings, alloy_structures
from aiida_mlipgen.science.defects import PointDefectSettings, point_defect_structures
from aiida_mlipgen.science.melt_quench import MeltQuenchSettings, melt_quench_frames
from aiida_mlipgen.science.phonons import PhononSettings, phonon_structures
from aiida_mlipgen.science.surfaces import SurfaceSettings, slab_structures
from aiida_mlipgen.science.teacher import classical_potential

#: Generator family -> its settings class.
GENERATORS = {
    'point_defects': PointDefectSettings,
    'surfaces': SurfaceSettings,
    'alloys': AlloySettings,
    'phonon_displacements': PhononSettings,
    'melt_quench': MeltQuenchSettings,
}


def parse_generator_settings(kind: str, values: Mapping | None):
    """The settings object of generator ``kind`` from a plain dict (raises ValueError for bad values)."""
    if kind not in GENERATORS:
        raise ValueError(f'unknown structure generator {kind!r}; known: {sorted(GENERATORS)}')
    return GENERATORS[kind].from_dict(values)


def generate_structures(kind: str, seed: Atoms, settings) -> list[Atoms]:
    """Structures of generator ``kind`` (a key of ``GENERATORS``) made from ``seed`` with ``settings``.

    :param settings: the generator's settings object or a plain dict of them.
    """
    if isinstance(settings, Mapping):
        settings = parse_generator_settings(kind, settings)
    species = set(seed.get_chemical_symbols())
    if kind == 'point_defects':
        return point_defect_structures(seed, settings)
    if kind == 'surfaces':
        return slab_structures(seed, settings)
    if kind == 'alloys':
        return alloy_structures(seed, settings)
    if kind == 'phonon_displacements':
        calculator = None
        if settings.temperatures_K:
            calculator = classical_potential(settings.potential, species)
        return phonon_structures(seed, settings, calculator)
    if kind == 'melt_quench':
        return melt_quench_frames(seed, settings, classical_potential(settings.potential, species))
    raise ValueError(f'unknown structure generator {kind!r}; known: {sorted(GENERATORS)}')
