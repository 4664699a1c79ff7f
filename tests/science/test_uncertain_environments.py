"""Selection by the environment of each candidate's most uncertain atom (``descriptor_of='max_deviation_atom'``)."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.neighborlist import neighbor_list

from aiida_mlipgen.science.candidates import select_candidates_from_frames
from aiida_mlipgen.science.descriptors import DescriptorSettings, atom_descriptors, structure_descriptor
from aiida_mlipgen.science.selection import parse_selection_parameters

WINDOW = {'force_trust_lo': 0.1, 'force_trust_hi': 1.0}


def explored(atoms, worst_atom):
    """A candidate frame whose committee disagrees most on ``worst_atom`` (eV/A)."""
    atoms.info.update(max_force_deviation=0.5, condition='si216_900K', structure='si216')
    atoms.arrays['force_deviation'] = np.full(len(atoms), 0.1)
    atoms.arrays['force_deviation'][worst_atom] = 0.5
    return atoms


def vacancy_cell():
    """216-atom diamond Si without atom 0; its most uncertain atom is a former neighbour of the vacancy."""
    atoms = bulk('Si', 'diamond', a=5.43, cubic=True).repeat(3)
    first, second = neighbor_list('ij', atoms, 2.6)
    neighbour = int(second[first == 0][0])
    del atoms[0]
    return explored(atoms, neighbour - 1)


def test_atom_descriptors_average_to_the_frame_descriptor_and_follow_their_atom():
    atoms = bulk('Si', 'diamond', a=5.43, cubic=True).repeat(2)
    atoms.rattle(0.1, seed=3)
    settings = DescriptorSettings.for_frames([atoms])
    every = atom_descriptors(atoms, settings)
    assert every.shape == (64, settings.length)
    assert np.allclose(every.mean(axis=0), structure_descriptor(atoms, settings), atol=1e-12)
    order = np.random.default_rng(0).permutation(64)
    shuffled = atoms[order]
    assert np.allclose(atom_descriptors(shuffled, settings, [10])[0], every[order[10]], atol=1e-12)
    assert np.allclose(atom_descriptors(atoms, settings, [5, 3]), every[[5, 3]])
    with pytest.raises(ValueError, match='out of range'):
        atom_descriptors(atoms, settings, [64])


def test_a_vacancy_in_a_large_cell_is_seen_by_its_uncertain_atom_not_by_the_frame_average():
    training = [bulk('Si', 'diamond', a=5.43, cubic=True).repeat(2)]
    strained = explored(bulk('Si', 'diamond', a=5.43 * 1.005, cubic=True).repeat(3), 7)
    vacancy = vacancy_cell()

    def select(descriptor_of):
        parameters = parse_selection_parameters({'max_selected': 1, 'descriptor_of': descriptor_of}, WINDOW)
        return select_candidates_from_frames([strained, vacancy], parameters, training)

    # Averaged over 215 atoms, the vacancy barely moves the fingerprint: a near-duplicate of the crystal.
    by_frame = select('frame')
    assert by_frame.duplicates_of_training == [1] and by_frame.selected == [0]
    # Its most uncertain atom has lost a neighbour: an environment the training set does not hold.
    by_atom = select('max_deviation_atom')
    assert by_atom.duplicates_of_training == [] and by_atom.selected == [1]
    assert by_atom.statistics['parameters']['descriptor_of'] == 'max_deviation_atom'


def test_an_uncertain_atom_in_a_known_environment_is_a_duplicate():
    # The committee disagrees on an atom far from the vacancy, in a perfect-crystal environment.
    training = [bulk('Si', 'diamond', a=5.43, cubic=True).repeat(2)]
    vacancy = vacancy_cell()
    far = int(np.argmax(vacancy.get_distances(0, range(len(vacancy)), mic=True)))
    vacancy.arrays['force_deviation'][:] = 0.1
    vacancy.arrays['force_deviation'][far] = 0.5
    parameters = parse_selection_parameters({'descriptor_of': 'max_deviation_atom'}, WINDOW)
    selection = select_candidates_from_frames([vacancy], parameters, training)
    assert selection.duplicates_of_training == [0] and selection.selected == []


def test_frames_without_per_atom_deviations_are_refused():
    frame = vacancy_cell()
    del frame.arrays['force_deviation']
    parameters = parse_selection_parameters({'descriptor_of': 'max_deviation_atom'}, WINDOW)
    with pytest.raises(ValueError, match=r"needs per-atom force deviations.*'si216_900K'"):
        select_candidates_from_frames([frame], parameters, [])


def test_an_unknown_descriptor_of_is_refused():
    with pytest.raises(ValueError, match=r"descriptor_of must be one of \['frame', 'max_deviation_atom'\]"):
        parse_selection_parameters({'descriptor_of': 'worst'}, WINDOW)
