"""Known answers of the benchmark science: a potential compared with itself has zero error, a broken one fails."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes

from aiida_mlipgen.science.benchmark_errors import calibration, check, dataset_errors, parity_arrays
from aiida_mlipgen.science.eos import compare_fits, fit_birch_murnaghan, scaled_cells
from aiida_mlipgen.science.md_stability import energy_drift, radial_distribution, rdf_difference, run_nve
from aiida_mlipgen.science.phonon_bands import displaced_supercells, frequency_errors, phonon_properties
from aiida_mlipgen.science.teacher import stillinger_weber_silicon
from tests.silicon import si_frames


class ScaledForces(Calculator):
    """Stillinger-Weber with every force multiplied by ``factor``: -1 is a broken, energy-pumping model."""

    implemented_properties = ['energy', 'free_energy', 'forces', 'stress']

    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor
        self.teacher = stillinger_weber_silicon()

    def calculate(self, atoms=None, properties=('energy',), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        copy = self.atoms.copy()
        copy.calc = self.teacher
        energy = copy.get_potential_energy()
        self.results = {
            'energy': energy,
            'free_energy': energy,
            'forces': self.factor * copy.get_forces(),
            'stress': copy.get_stress(),
        }


@pytest.fixture
def si8():
    return bulk('Si', 'diamond', a=5.431, cubic=True)


def _energies(frames, calculator):
    energies = []
    for atoms in frames:
        atoms = atoms.copy()
        atoms.calc = calculator
        energies.append(atoms.get_potential_energy())
    return np.array(energies)


def test_eos_of_stillinger_weber_silicon(si8):
    frames = scaled_cells(si8, [-6, -3, 0, 3, 6])
    volumes = [atoms.get_volume() for atoms in frames]
    fit = fit_birch_murnaghan(volumes, _energies(frames, stillinger_weber_silicon()))
    # SW silicon: a0 = 5.431 A and B0 = 101.4 GPa (Stillinger and Weber, PRB 31, 5262)
    assert fit.volume_A3 ** (1 / 3) == pytest.approx(5.431, rel=1e-3)
    assert fit.bulk_modulus_GPa == pytest.approx(101.4, rel=0.02)
    assert compare_fits(fit, fit) == {
        'lattice_constant_relative_error': 0.0,
        'volume_relative_error': 0.0,
        'bulk_modulus_relative_error': 0.0,
    }
    # a model whose crystal is 1 % larger: same curve on cells 1 % larger
    larger = fit_birch_murnaghan(np.array(volumes) * 1.01**3, _energies(frames, stillinger_weber_silicon()))
    errors = compare_fits(larger, fit)
    assert errors['lattice_constant_relative_error'] == pytest.approx(0.01, rel=1e-6)
    assert not check(errors['lattice_constant_relative_error'], 0.005)['passed']


def test_eos_refuses_a_minimum_outside_the_volumes(si8):
    frames = scaled_cells(si8, [2, 4, 6, 8])
    with pytest.raises(ValueError, match='outside'):
        fit_birch_murnaghan([a.get_volume() for a in frames], _energies(frames, stillinger_weber_silicon()))


def test_phonons_of_a_model_against_itself_and_stiffer_springs(si8):
    frames, dataset = displaced_supercells(si8, np.eye(3, dtype=int))
    assert len(frames) == 1  # diamond: one symmetry-distinct displacement
    teacher = stillinger_weber_silicon()
    forces = []
    for atoms in frames:
        atoms.calc = teacher
        forces.append(atoms.get_forces())
    reference = phonon_properties(si8, np.eye(3, dtype=int), dataset, forces)
    same = phonon_properties(si8, np.eye(3, dtype=int), dataset, forces)
    assert frequency_errors(same['frequencies_THz'], reference['frequencies_THz'])['mae_THz'] == 0.0
    assert reference['gamma_frequencies_THz'][:3] == pytest.approx(0.0, abs=1e-5)  # acoustic modes at Gamma
    assert reference['gamma_frequencies_THz'][3:] == pytest.approx(17.8, abs=0.2)  # SW optical mode
    # forces 1.21 x larger: force constants 1.21 x, every frequency exactly 1.1 x
    stiffer = phonon_properties(si8, np.eye(3, dtype=int), dataset, [1.21 * f for f in forces])
    errors = frequency_errors(stiffer['frequencies_THz'], reference['frequencies_THz'])
    assert errors['mae_THz'] == pytest.approx(0.1 * np.abs(reference['frequencies_THz']).mean(), rel=1e-6)
    assert reference['special_labels'][0] == 'G' and reference['dos'].max() > 0


def test_stillinger_weber_nve_is_stable_and_a_broken_model_fails(si8):
    stable = run_nve(si8, stillinger_weber_silicon(), 300, 200, timestep_fs=1.0, interval=5, frame_interval=20)
    assert stable.failure is None and stable.steps_done == 200
    assert abs(stable.drift_eV_per_atom_per_ps()) < 1e-4
    assert 150 < np.mean(stable.temperatures_K[5:]) < 500  # started at 2 T, settles near T
    broken = run_nve(si8, ScaledForces(-1.0), 300, 200, timestep_fs=1.0, interval=5)
    assert broken.failure is not None and broken.failure_time_fs < 200


def test_energy_drift_of_a_straight_line():
    times = np.linspace(0, 2, 11)
    assert energy_drift(times, 8 * (1.0 + 3e-5 * times), 8) == pytest.approx(3e-5)


def test_rdf_of_diamond_and_its_difference(si8):
    r, g = radial_distribution([si8.repeat(2)], r_max=4.0, bins=80)
    first_peak = r[np.argmax(g * (r < 3.0))]
    assert first_peak == pytest.approx(5.431 * np.sqrt(3) / 4, abs=0.05)  # nearest-neighbour distance
    assert rdf_difference(g, g) == 0.0
    assert rdf_difference(2 * g, g) == pytest.approx(1.0)


def test_a_model_against_its_own_labels_has_zero_error_and_perfect_calibration():
    frames = si_frames(6, seed=3)
    for index, atoms in enumerate(frames):
        atoms.info['config_type'] = 'rattled' if index % 2 else 'strained'
    predictions = [dict(atoms.calc.results) for atoms in frames]
    report = dataset_errors(frames, predictions, deviations=[0.1] * 6)
    assert report['overall']['forces']['mae'] == 0.0
    assert report['overall']['energy_per_atom']['rmse'] == 0.0
    assert report['overall']['stress']['max_abs'] == 0.0
    assert set(report['per_configuration_type']) == {'rattled', 'strained'}
    assert report['per_species']['Si']['forces']['rmse'] == 0.0
    assert report['calibration']['false_negatives'] == 0
    arrays = parity_arrays(frames, predictions)
    assert np.array_equal(arrays['forces_reference'], arrays['forces_predicted'])
    assert arrays['stress_reference'].size == 36


def test_calibration_counts_frames_called_accurate_that_are_not():
    errors = np.array([0.01, 0.02, 0.2, 0.3, 0.4])
    perfect = calibration(errors, errors, trust_lo=0.05, error_threshold=0.05)
    assert perfect['spearman'] == pytest.approx(1.0) and perfect['false_negative_rate'] == 0.0
    blind = calibration([0.01, 0.01, 0.01, 0.3, 0.02], errors, trust_lo=0.05, error_threshold=0.05)
    assert blind['false_negatives'] == 2 and blind['false_negative_rate'] == pytest.approx(2 / 3)


def test_adf_of_diamond_is_the_tetrahedral_angle_and_a_rattle_broadens_it(si8):
    from aiida_mlipgen.science.md_stability import angular_distribution

    angles, density = angular_distribution([si8], cutoff_A=2.8, bins=180)
    assert np.sum(density * np.diff(np.linspace(0, 180, 181))) == pytest.approx(1.0)
    assert angles[np.argmax(density)] == pytest.approx(109.5, abs=0.5)  # arccos(-1/3) = 109.47 degrees
    assert density[np.abs(angles - 109.47) > 1].sum() == 0
    rattled = si8.copy()
    rattled.rattle(0.1, seed=3)
    _, broadened = angular_distribution([rattled], cutoff_A=2.8, bins=180)
    assert 0 < rdf_difference(broadened, density) <= 2
    assert np.count_nonzero(broadened) > 5
    with pytest.raises(ValueError, match='no bond angles'):
        angular_distribution([si8], cutoff_A=1.0)
