"""Tests of the sanity gates on labelled frames (hand-computed geometries and forces)."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.data import covalent_radii

from aiida_mlipgen.science.quality import (
    close_contact_failures,
    close_contacts,
    force_gate_failures,
    scf_convergence_failures,
)

SI_RADIUS = covalent_radii[14]  # 1.11 A


def test_bulk_silicon_has_no_close_contacts():
    assert close_contacts(bulk('Si', 'diamond', a=5.43)) == []
    assert close_contact_failures(bulk('Si', 'diamond', a=5.43)) == []


def test_close_contact_found_across_periodic_boundary():
    # 0.2 A from each face along x: the minimum-image distance is 0.4 A, direct distance 9.6 A.
    atoms = Atoms('Si2', positions=[[0.2, 5, 5], [9.8, 5, 5]], cell=[10, 10, 10], pbc=True)
    contacts = close_contacts(atoms)
    assert len(contacts) == 1
    i, j, distance, threshold = contacts[0]
    assert (i, j) == (0, 1)
    assert distance == pytest.approx(0.4)
    assert threshold == pytest.approx(0.5 * 2 * SI_RADIUS)
    # The same pair is not a contact without periodicity along x.
    atoms.pbc = [False, True, True]
    assert close_contacts(atoms) == []


def test_close_contact_in_a_skewed_cell():
    # Strongly skewed 2D lattice: a2 = a1 * 4 + small offset, so the shortest image vector of the
    # pair is a2 - 4 a1 = (0, 0.6, 0), far from what a naive orthogonal minimum image would find.
    cell = [[3.0, 0, 0], [12.0, 0.6, 0], [0, 0, 10]]
    atoms = Atoms('Si', positions=[[0, 0, 0]], cell=cell, pbc=True)
    contacts = close_contacts(atoms)
    assert [(i, j) for i, j, _, _ in contacts] == [(0, 0)]
    assert contacts[0][2] == pytest.approx(0.6)
    assert 'its own periodic image' in close_contact_failures(atoms)[0]


def test_atom_close_to_its_own_image_in_a_tiny_cell():
    atoms = Atoms('H', positions=[[0, 0, 0]], cell=[0.3, 5, 5], pbc=True)
    ((i, j, distance, threshold),) = close_contacts(atoms)
    assert (i, j) == (0, 0)
    assert distance == pytest.approx(0.3)
    assert threshold == pytest.approx(covalent_radii[1])


def test_close_contact_threshold_uses_both_species_and_ratio():
    # H-Si at 0.8 A: threshold 0.5 * (0.31 + 1.11) = 0.71 A (not close); with ratio 0.6 it is 0.852 A.
    atoms = Atoms('HSi', positions=[[0, 0, 0], [0.8, 0, 0]])
    assert close_contacts(atoms) == []
    ((_, _, distance, threshold),) = close_contacts(atoms, min_distance_ratio=0.6)
    assert distance == pytest.approx(0.8)
    assert threshold == pytest.approx(0.6 * (covalent_radii[1] + SI_RADIUS))


def test_close_contacts_rejects_bad_ratio():
    with pytest.raises(ValueError, match='positive'):
        close_contacts(Atoms('H'), min_distance_ratio=0)


def test_forces_that_pass():
    forces = np.array([[1.0, 0, 0], [-1.0, 0, 0], [0, 2.0, 0], [0, -2.0, 0]])
    assert force_gate_failures(forces) == []


def test_large_force_on_one_atom():
    forces = np.array([[12.1, 0, 0], [-12.1, 0, 0], [0, 0, 0], [0, 0, 0]])
    reasons = force_gate_failures(forces)
    assert reasons == ['atom 0 has |F| = 12.1 eV/A > 10 eV/A', 'atom 1 has |F| = 12.1 eV/A > 10 eV/A']


def test_net_force_per_atom():
    # Net force (0, 0, 0.0092) eV/A over 4 atoms = 2.3e-3 eV/A per atom.
    forces = np.array([[0.5, 0, 0.0023], [-0.5, 0, 0.0023], [0, 0, 0.0023], [0, 0, 0.0023]])
    assert force_gate_failures(forces) == ['net force per atom 0.0023 eV/A > 0.001 eV/A']
    assert force_gate_failures(forces, max_net_force_per_atom=0.003) == []


def test_non_finite_forces():
    forces = np.zeros((3, 3))
    forces[2, 1] = np.nan
    assert force_gate_failures(forces) == ['non-finite forces on atoms [2]']


@pytest.mark.parametrize(
    ('forces', 'kwargs', 'match'),
    [
        (np.zeros((2, 2)), {}, 'shape'),
        (np.zeros((0, 3)), {}, 'shape'),
        (np.zeros((2, 3)), {'max_force': 0}, 'max_force'),
        (np.zeros((2, 3)), {'max_net_force_per_atom': -1}, 'max_net_force_per_atom'),
    ],
)
def test_force_gate_rejects_bad_input(forces, kwargs, match):
    with pytest.raises(ValueError, match=match):
        force_gate_failures(forces, **kwargs)


def test_scf_gate_passes_a_converged_run_within_the_print_rounding():
    assert scf_convergence_failures([1.0, 1e-3, 3.9e-9], conv_thr_eV=4e-9) == []
    assert scf_convergence_failures([7.9e-9], conv_thr_eV=4e-9) == []  # printed with one digit: up to 2x


def test_scf_gate_quarantines_an_scf_that_only_said_it_converged():
    # pw.x with scf_must_converge = .false. stopped after one step: 0.09 Ry against a 1e-14 Ry threshold.
    (reason,) = scf_convergence_failures([1.24], conv_thr_eV=1.4e-13)
    assert reason == 'SCF not converged: estimated accuracy 1.24 eV > conv_thr 1.4e-13 eV'
    assert scf_convergence_failures([float('nan')], conv_thr_eV=1e-8)
    assert scf_convergence_failures([], conv_thr_eV=1e-8) == [
        'the output gives no SCF accuracy: whether the SCF converged is unknown'
    ]
    with pytest.raises(ValueError, match='conv_thr must be a positive number'):
        scf_convergence_failures([1e-9], conv_thr_eV=0.0)
