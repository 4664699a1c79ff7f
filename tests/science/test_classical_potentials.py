"""The classical potentials of the generators reproduce the cohesive energies of their papers."""

import pytest
from ase.build import bulk

from aiida_mlipgen.science.teacher import classical_potential


@pytest.mark.parametrize(
    ('symbol', 'lattice', 'cohesive_energy'),
    [('Si', 5.432, -4.63), ('Ge', 5.657, -3.85)],  # Tersoff, PRB 39, 5566 (1989), table I
)
def test_tersoff_silicon_germanium_cohesive_energies(symbol, lattice, cohesive_energy):
    atoms = bulk(symbol, 'diamond', a=lattice)
    atoms.calc = classical_potential('tersoff_sige')
    assert atoms.get_potential_energy() / len(atoms) == pytest.approx(cohesive_energy, abs=0.005)
    assert abs(atoms.get_stress()[:3]).max() < 1e-3  # eV/A^3: the experimental lattice is the minimum


def test_stillinger_weber_cohesive_energy_and_coverage():
    atoms = bulk('Si', 'diamond', a=5.431)
    atoms.calc = classical_potential('stillinger_weber_si', species=['Si'])
    assert atoms.get_potential_energy() / 2 == pytest.approx(-4.3366, abs=1e-3)  # SW: 2.1683 eV x 2
    with pytest.raises(ValueError, match=r"covers \['Si'\], not \['Ge'\]"):
        classical_potential('stillinger_weber_si', species=['Si', 'Ge'])
    with pytest.raises(ValueError, match='unknown classical potential'):
        classical_potential('lennard_jones')
