"""Batched committee inference against nequip's own ASE calculator, frame by frame."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk

from aiida_mlipgen.engines.committee import Committee
from aiida_mlipgen.engines.models import load_model, model_form
from aiida_mlipgen.science.deviations import frame_deviation


@pytest.fixture
def mixed_frames(make_si_frames):
    """8- and 16-atom frames plus a 64-atom cell and a non-cubic 2-atom cell: sizes differ within a batch."""
    frames = make_si_frames(5, seed=7, label=False)
    big = bulk('Si', 'diamond', a=5.45, cubic=True).repeat(2)
    big.rattle(0.05, seed=3)
    frames.append(big)
    primitive = bulk('Si', 'diamond', a=5.40)
    primitive.rattle(0.05, seed=4)
    frames.append(primitive)
    return frames


def _ase_reference(paths, frames):
    """Per-member, per-frame (energy, forces, stress) from nequip's NequIPCalculator."""
    from nequip.integrations.ase import NequIPCalculator

    reference = []
    for path in paths:
        calculator = NequIPCalculator._from_saved_model(str(path), chemical_species_to_atom_type_map=True)
        member = []
        for atoms in frames:
            atoms = atoms.copy()
            atoms.calc = calculator
            member.append((atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()))
        reference.append(member)
    return reference


@pytest.fixture(scope='module')
def package_committee(tiny_committee):
    return Committee.from_files(tiny_committee.packages)


def test_batched_equals_per_frame_ase_calculator(tiny_committee, package_committee, mixed_frames):
    frames = mixed_frames
    prediction = package_committee.predict(frames, batch_size=3)
    reference = _ase_reference(tiny_committee.packages, frames)
    assert prediction.energies.shape == (2, len(frames))
    for member, per_frame in enumerate(reference):
        for index, (energy, forces, stress) in enumerate(per_frame):
            result = prediction.member(member, index)
            assert result['energy'] == pytest.approx(energy, abs=1e-5)
            np.testing.assert_allclose(result['forces'], forces, atol=1e-5)
            np.testing.assert_allclose(result['stress'], stress, atol=1e-5)
    # the two seeds give different models
    assert np.abs(prediction.energies[0] - prediction.energies[1]).max() > 1e-3


def test_batch_size_does_not_change_results(package_committee, mixed_frames):
    frames = mixed_frames
    one = package_committee.predict(frames, batch_size=1)
    many = package_committee.predict(frames, batch_size=len(frames))
    np.testing.assert_allclose(one.energies, many.energies, atol=1e-10)
    np.testing.assert_allclose(one.stresses, many.stresses, atol=1e-12)
    for forces_one, forces_many in zip(one.forces, many.forces, strict=True):
        np.testing.assert_allclose(forces_one, forces_many, atol=1e-10)


def test_checkpoints_give_the_packaged_predictions(tiny_committee, package_committee, make_si_frames):
    frames = make_si_frames(3, seed=5, label=False)
    from_checkpoints = Committee.from_files(tiny_committee.checkpoints).predict(frames)
    from_packages = package_committee.predict(frames)
    np.testing.assert_allclose(from_checkpoints.energies, from_packages.energies, atol=1e-8)
    assert model_form(tiny_committee.checkpoints[0]) == 'checkpoint'


def test_deviations_follow_dp_gen_definitions(package_committee, mixed_frames):
    frames = mixed_frames
    prediction = package_committee.predict(frames, batch_size=4)
    deviations = prediction.deviations()
    for index, atoms in enumerate(frames):
        forces = prediction.forces[index]
        # DP-GEN max_devi_f written out independently of the science module
        per_atom = np.sqrt(np.mean(np.sum((forces - forces.mean(axis=0)) ** 2, axis=-1), axis=0))
        assert deviations[index].max_force_deviation == pytest.approx(per_atom.max(), rel=1e-12)
        assert deviations[index].energy_deviation_per_atom == pytest.approx(
            np.std(prediction.energies[:, index]) / len(atoms), rel=1e-12
        )
        assert deviations[index] == frame_deviation(
            prediction.energies[:, index], forces, prediction.stresses[:, index]
        )
    assert all(deviation.max_force_deviation > 0 for deviation in deviations)


def test_identical_models_give_zero_deviation(tiny_committee, mixed_frames):
    committee = Committee.from_files([tiny_committee.packages[0]] * 3)
    prediction = committee.predict(mixed_frames, batch_size=4)
    for deviation in prediction.deviations():
        # exact up to the round-off of averaging three equal numbers
        assert deviation.max_force_deviation < 1e-12
        assert deviation.energy_deviation_per_atom < 1e-12
        assert deviation.stress_deviation < 1e-12


def test_unknown_species_rejected(package_committee, make_si_frames):
    frames = make_si_frames(2, seed=1, label=False)
    frames[1].symbols[3] = 'Ge'
    with pytest.raises(ValueError, match=r"frame 1 contains species \['Ge'\].*trained on \['Si'\]"):
        package_committee.predict(frames)


def test_bad_requests_rejected(tiny_committee, package_committee, make_si_frames, tmp_path):
    with pytest.raises(ValueError, match='no frames'):
        package_committee.predict([])
    with pytest.raises(ValueError, match='batch_size'):
        package_committee.predict(make_si_frames(1, label=False), batch_size=0)
    with pytest.raises(ValueError, match='cannot tell what kind'):
        load_model(tmp_path / 'model.pth')
    with pytest.raises(FileNotFoundError, match='does not exist'):
        load_model(tmp_path / 'missing.nequip.zip')
    with pytest.raises(ValueError, match='does not have'):
        load_model(tiny_committee.packages[0], species_to_type={'Si': 'Ge'})
    with pytest.raises(ValueError, match='at least one model'):
        Committee([])
