"""Harmonic phonon bands and DOS by finite displacements with phonopy, for comparing a model with DFT.

The same displaced supercells are given to a model and to DFT; phonopy turns each set of forces into
force constants, band frequencies along the high-symmetry path of the primitive cell (ASE's
``bandpath``) and a total DOS. Frequencies in THz (forces eV/A, positions A, masses amu).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms


def _phonopy(unitcell: Atoms, supercell_matrix):
    """A ``Phonopy`` object whose primitive cell is found from the symmetry of ``unitcell``."""
    import warnings

    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    cell = PhonopyAtoms(
        symbols=unitcell.get_chemical_symbols(),
        cell=np.asarray(unitcell.cell),
        scaled_positions=unitcell.get_scaled_positions(),
        masses=unitcell.get_masses(),
    )
    with warnings.catch_warnings():
        # phonopy >= 4 warns that 'auto' may differ from v3's identity default: 'auto' is what we want.
        warnings.simplefilter('ignore')
        return Phonopy(cell, supercell_matrix=np.asarray(supercell_matrix), primitive_matrix='auto')


def _to_atoms(cell) -> Atoms:
    return Atoms(symbols=cell.symbols, cell=cell.cell, scaled_positions=cell.scaled_positions, pbc=True)


def displaced_supercells(unitcell: Atoms, supercell_matrix, distance_A: float = 0.01) -> tuple[list[Atoms], dict]:  # noqa: N803
    """The symmetry-reduced displaced supercells, and phonopy's displacement dataset (JSON-ready)."""
    if not distance_A > 0:
        raise ValueError(f'the displacement must be positive, got {distance_A} A')
    phonon = _phonopy(unitcell, supercell_matrix)
    phonon.generate_displacements(distance=distance_A)
    frames = [_to_atoms(cell) for cell in phonon.supercells_with_displacements]
    dataset = phonon.dataset
    return frames, {
        'natom': int(dataset['natom']),
        'first_atoms': [
            {'number': int(item['number']), 'displacement': [float(x) for x in item['displacement']]}
            for item in dataset['first_atoms']
        ],
    }


def phonon_properties(
    unitcell: Atoms,
    supercell_matrix,
    dataset: dict,
    forces: Sequence[np.ndarray],
    band_points: int = 51,
    mesh: Sequence[int] = (12, 12, 12),
) -> dict:
    """Band frequencies along the primitive cell's high-symmetry path and the total DOS, from forces.

    :param dataset: the dataset from :func:`displaced_supercells`.
    :param forces: forces (eV/A) on each displaced supercell, in the dataset's order.
    :return: ``path_kpts`` (fractional q), ``distances`` (1/A, for plotting), ``special_distances``,
        ``special_labels``, ``frequencies_THz`` (q x bands), ``gamma_frequencies_THz``,
        ``dos_frequencies_THz``, ``dos``.
    """
    if len(forces) != len(dataset['first_atoms']):
        raise ValueError(f'{len(forces)} force sets for {len(dataset["first_atoms"])} displaced supercells')
    phonon = _phonopy(unitcell, supercell_matrix)
    phonon.dataset = {
        'natom': dataset['natom'],
        'first_atoms': [
            {'number': item['number'], 'displacement': np.asarray(item['displacement'], dtype=float)}
            for item in dataset['first_atoms']
        ],
    }
    phonon.forces = np.asarray([np.asarray(item, dtype=float).reshape(-1, 3) for item in forces])
    phonon.produce_force_constants()

    path = Atoms(cell=phonon.primitive.cell, pbc=True).cell.bandpath(npoints=band_points)
    distances, special_distances, labels = path.get_linear_kpoint_axis()
    phonon.run_qpoints(path.kpts)
    frequencies = np.asarray(phonon.qpoints.frequencies)
    phonon.run_qpoints([[0.0, 0.0, 0.0]])
    gamma = np.asarray(phonon.qpoints.frequencies)[0]
    phonon.run_mesh(list(mesh), is_gamma_center=True)
    phonon.run_total_dos()
    dos = phonon.total_dos
    return {
        'path_kpts': np.asarray(path.kpts),
        'distances': np.asarray(distances),
        'special_distances': np.asarray(special_distances),
        'special_labels': [str(label) for label in labels],
        'frequencies_THz': frequencies,
        'gamma_frequencies_THz': gamma,
        'dos_frequencies_THz': np.asarray(dos.frequency_points),
        'dos': np.asarray(dos.dos),
    }


def frequency_errors(model_THz: np.ndarray, reference_THz: np.ndarray) -> dict[str, float]:  # noqa: N803
    """MAE, RMSE and largest absolute difference of two frequency arrays of the same shape, THz."""
    model_THz = np.asarray(model_THz, dtype=float)  # noqa: N806
    reference_THz = np.asarray(reference_THz, dtype=float)  # noqa: N806
    if model_THz.shape != reference_THz.shape:
        raise ValueError(f'frequency arrays differ in shape: {model_THz.shape} and {reference_THz.shape}')
    difference = model_THz - reference_THz
    return {
        'mae_THz': float(np.abs(difference).mean()),
        'rmse_THz': float(np.sqrt((difference**2).mean())),
        'max_abs_THz': float(np.abs(difference).max()),
    }
