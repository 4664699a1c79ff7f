"""Force errors per chemical species, in the pure metric and in the committee's test-set metrics."""

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator

from aiida_mlipgen.parsers.evaluate_files import committee_metrics
from aiida_mlipgen.science.metrics import force_errors_per_species


def test_force_errors_per_species_groups_atoms_by_symbol():
    symbols = [['Si', 'Ge'], ['Ge', 'Ge', 'Si']]
    reference = [np.zeros((2, 3)), np.zeros((3, 3))]
    predicted = [np.array([[0.1] * 3, [0.2] * 3]), np.array([[0.2] * 3, [-0.4] * 3, [0.1] * 3])]
    errors = force_errors_per_species(symbols, reference, predicted)
    assert list(errors) == ['Ge', 'Si']
    assert errors['Si'].mae == pytest.approx(0.1) and errors['Si'].count == 6
    assert errors['Ge'].mae == pytest.approx((0.2 + 0.2 + 0.4) / 3) and errors['Ge'].count == 9
    assert errors['Ge'].rmse == pytest.approx(np.sqrt((0.04 + 0.04 + 0.16) / 3))
    with pytest.raises(ValueError, match='every atom needs a symbol'):
        force_errors_per_species([['Si']], reference[:1], predicted[:1])


def test_committee_metrics_carry_per_species_errors():
    frames = []
    for index, offset in enumerate((0.05, 0.1)):
        atoms = bulk('SiGe', 'zincblende', a=5.54).repeat((2, 1, 1))
        atoms.rattle(0.05, seed=index)
        forces = np.zeros((len(atoms), 3))
        atoms.calc = SinglePointCalculator(atoms, energy=-17.0, forces=forces)
        error = np.where(np.array(atoms.get_chemical_symbols())[:, None] == 'Ge', offset, 0.0) * np.ones((1, 3))
        atoms.info.update(
            committee_energy=-17.0,
            committee_stress=np.zeros(6),
            max_force_deviation=0.1 * index,
            mean_force_deviation=0.0,
            energy_deviation_per_atom=0.0,
            stress_deviation=0.0,
        )
        atoms.arrays['committee_forces'] = forces + error
        frames.append(atoms)
    per_species = committee_metrics(frames)['per_species']
    assert per_species['Si']['forces_rmse_eV_per_A'] == 0.0 and per_species['Si']['num_atoms'] == 4
    assert per_species['Ge']['forces_rmse_eV_per_A'] == pytest.approx(np.sqrt((0.05**2 + 0.1**2) / 2))
    assert per_species['Ge']['forces_max_abs_eV_per_A'] == pytest.approx(0.1)
