"""Calcfunctions of the structure generators, so every generated structure links back to its seed.

Each takes the generator's settings (a ``Dict`` of the keys of its settings class in
``aiida_mlipgen.science``) and seed structures, and returns one ``StructureData`` per generated structure,
labelled ``<seed key>_<NNN>`` in the order the generator made them; the node's ``label`` says how it was
made. Use the outputs as ``exploration_structures`` of the loop, or as seeds of another loop; sizes are
capped by each generator's ``max_atoms``.
"""

from __future__ import annotations

from aiida import orm
from aiida.engine import calcfunction

from aiida_mlipgen.science.structure_generation import generate_structures

#: Frame ``info`` keys that describe how a structure was made, in the order they go into its label.
_DESCRIPTION_KEYS = (
    'generator',
    'defect',
    'miller_index',
    'termination',
    'composition',
    'amplitude_A',
    'temperature_K',
    'phase',
    'copy_index',
)


def _describe(info: dict) -> str:
    return ' '.join(f'{key}={info[key]}' for key in _DESCRIPTION_KEYS if key in info)


def _generate(kind: str, settings: orm.Dict, structures: dict) -> dict[str, orm.StructureData]:
    if not structures:
        raise ValueError('give at least one seed structure')
    outputs = {}
    for key in sorted(structures):
        for index, atoms in enumerate(generate_structures(kind, structures[key].get_ase(), settings.get_dict())):
            node = orm.StructureData(ase=atoms)
            node.label = f'{key} {_describe(atoms.info)}'[:255]
            outputs[f'{key}_{index:03d}'] = node
    return outputs


@calcfunction
def generate_point_defects(settings: orm.Dict, **structures: orm.StructureData) -> dict:
    """Vacancies, Voronoi interstitials, antisites and substitutions (``PointDefectSettings``)."""
    return _generate('point_defects', settings, structures)


@calcfunction
def generate_surfaces(settings: orm.Dict, **structures: orm.StructureData) -> dict:
    """Slabs by Miller index with an exact vacuum gap (``SurfaceSettings``)."""
    return _generate('surfaces', settings, structures)


@calcfunction
def generate_alloys(settings: orm.Dict, **structures: orm.StructureData) -> dict:
    """SQS or random alloy cells of a composition (``AlloySettings``)."""
    return _generate('alloys', settings, structures)


@calcfunction
def generate_phonon_displacements(settings: orm.Dict, **structures: orm.StructureData) -> dict:
    """Phonopy finite displacements and random harmonic snapshots at a temperature (``PhononSettings``)."""
    return _generate('phonon_displacements', settings, structures)


@calcfunction
def generate_melt_quench(settings: orm.Dict, **structures: orm.StructureData) -> dict:
    """Liquid and quenched frames of a melt-quench MD with a classical potential (``MeltQuenchSettings``)."""
    return _generate('melt_quench', settings, structures)
