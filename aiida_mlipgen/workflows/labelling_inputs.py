"""Input checks and the DFT settings fingerprint of the labelling stage.

Every frame of a training set must be labelled with the same functional, pseudopotentials, cutoffs,
k-point density and smearing: the fingerprint captures those, and the checks refuse inputs that would
mix them or that cannot give forces and stress.
"""

from __future__ import annotations

import math

import numpy as np
from aiida import orm

from aiida_mlipgen.science.fingerprints import with_fingerprint

#: Parameters that change per frame or only affect speed, left out of the fingerprint.
_NON_PHYSICAL_PARAMETERS = {
    'CONTROL': {
        'outdir',
        'prefix',
        'pseudo_dir',
        'verbosity',
        'disk_io',
        'max_seconds',
        'restart_mode',
        'etot_conv_thr',
        'forc_conv_thr',
    },
    'ELECTRONS': {
        'startingwfc',
        'startingpot',
        'mixing_beta',
        'mixing_mode',
        'mixing_ndim',
        'diagonalization',
        'electron_maxstep',
        'conv_thr',
    },
    # Enough empty bands do not change the result; too few are caught by PwBaseWorkChain's band check.
    'SYSTEM': {'nbnd'},
}

#: Smeared SCF runs get at least this factor x the occupied bands, and at least this many empty bands.
BANDS_FACTOR = 1.5
MIN_EMPTY_BANDS = 8


def labelling_settings(
    parameters: dict, pseudos: dict[str, orm.Data], kpoints_distance: float | None, kpoints_mesh: list | None
) -> dict:
    """Return the DFT settings that make labels comparable, with their SHA-256 as ``sha256``.

    Mixing, diagonalisation and convergence-threshold options are left out: they change how the SCF
    converges, not what it converges to; restart handlers adjust them per frame, and the protocol
    scales ``conv_thr`` with the number of atoms.
    """
    physical = {
        namelist: {key: value for key, value in values.items() if key not in _NON_PHYSICAL_PARAMETERS.get(namelist, ())}
        for namelist, values in parameters.items()
    }
    settings = {
        'code': 'quantumespresso.pw',
        'parameters': physical,
        'pseudos': {element: pseudo.md5 for element, pseudo in sorted(pseudos.items())},
        'kpoints_distance': kpoints_distance,
        'kpoints_mesh': kpoints_mesh,
    }
    return with_fingerprint(settings)


def number_of_bands(num_electrons: float) -> int:
    """Kohn-Sham bands for a smeared SCF run of a frame with ``num_electrons`` valence electrons.

    QE's own choice for smearing (20 % or 4 bands above half the electrons) leaves the highest band
    occupied above 0.005 for silicon at aiida-quantumespresso's smearing (0.0275 Ry cold), so that
    PwBaseWorkChain restarts such a frame with more bands, wasting one SCF run (23 of the demo's 39 Si8
    frames: 20 bands, the last one 0.05 occupied). 50 % or 8 empty bands above half the electrons avoid
    the restart; extra empty bands do not change the converged energy, forces or stress.
    """
    occupied = math.ceil(num_electrons / 2)
    return max(math.ceil(BANDS_FACTOR * num_electrons / 2), occupied + MIN_EMPTY_BANDS)


def parameters_for_frame(parameters: dict, num_electrons: float) -> dict:
    """The shared pw.x ``parameters`` for one frame: ``SYSTEM.nbnd`` added for smeared runs that lack it.

    :param num_electrons: valence electrons of the frame (sum of the pseudopotentials' Z valence, less
        ``SYSTEM.tot_charge``).
    """
    system = parameters.get('SYSTEM', {})
    if system.get('occupations') == 'fixed' or 'nbnd' in system:
        return parameters
    electrons = num_electrons - system.get('tot_charge', 0.0)
    return {**parameters, 'SYSTEM': {**system, 'nbnd': number_of_bands(electrons)}}


def settings_of_inputs(inputs) -> dict:
    """The DFT settings fingerprint (:func:`labelling_settings`) of ``LabellingWorkChain`` inputs.

    :param inputs: the work chain's inputs, or a wrapper's: their ``pw`` and ``pseudos`` are read.
    """
    pw_inputs = inputs['pw']
    kpoints_distance = pw_inputs['kpoints_distance'].value if 'kpoints_distance' in pw_inputs else None
    kpoints_mesh = None
    if 'kpoints' in pw_inputs:
        mesh, offset = pw_inputs['kpoints'].get_kpoints_mesh()
        kpoints_mesh = [list(mesh), list(offset)]
    return labelling_settings(
        pw_inputs['pw']['parameters'].get_dict(), dict(inputs['pseudos']), kpoints_distance, kpoints_mesh
    )


def check_parameters(parameters: dict) -> str | None:
    """Return why ``parameters`` cannot label a training set, or None when they can."""
    control = parameters.get('CONTROL', {})
    electrons = parameters.get('ELECTRONS', {})
    if control.get('calculation', 'scf') != 'scf':
        return f'labelling needs `CONTROL.calculation = scf`, got `{control["calculation"]}`.'
    for flag in ('tprnfor', 'tstress'):
        if not control.get(flag, False):
            return f'labelling needs forces and stress: set `CONTROL.{flag} = True`.'
    if electrons.get('scf_must_converge', True) is False:
        return '`ELECTRONS.scf_must_converge = False` would accept unconverged SCF runs as labels: refused.'
    return None


def check_pseudos(elements: set[str], pseudos: dict) -> str | None:
    """Return a message naming the elements without a pseudopotential, or None."""
    missing = sorted(elements - set(pseudos))
    if missing:
        return (
            f'no pseudopotential for element(s) {", ".join(missing)}: the `pseudos` namespace has '
            f'{", ".join(sorted(pseudos)) or "none"}. Add them, or use a pseudo family that covers them.'
        )
    return None


def check_explicit_mesh(structures: list[orm.StructureData]) -> str | None:
    """An explicit k-point mesh gives different k-point densities to different cells: refuse that."""
    cells = {tuple(np.round(np.asarray(structure.cell), 6).ravel()) for structure in structures}
    if len(cells) > 1:
        return (
            'an explicit k-point mesh (`pw.kpoints`) with frames of different cells would label them at '
            'different k-point densities; use `pw.kpoints_distance` instead.'
        )
    return None


def check_reference(settings: dict, reference: dict | None) -> str | None:
    """Refuse settings that differ from those of the dataset the new labels will be merged into."""
    if reference is None or reference.get('sha256') == settings['sha256']:
        return None
    differing = sorted(key for key in settings if key != 'sha256' and settings.get(key) != reference.get(key))
    return (
        'the labelling settings differ from those of `reference_dataset` (different: '
        f'{", ".join(differing)}); labels computed with mixed settings would corrupt the training set.'
    )
