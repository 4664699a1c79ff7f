"""Round trip of the lossless extxyz writer through ASE's reader."""

import io

import numpy as np
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read

from aiida_mlipgen.science.extxyz import extxyz_string, write_extxyz
from aiida_mlipgen.science.generators import rattled_copies


def test_round_trip_is_bit_for_bit(tmp_path):
    rng = np.random.default_rng(5)
    frames = rattled_copies(bulk('Si', 'diamond', a=5.43) * (2, 1, 1), [0.05, 0.1], seed=5)
    for atoms in frames:
        atoms.calc = SinglePointCalculator(
            atoms,
            energy=float(rng.normal(-40, 1)),
            forces=rng.normal(0, 1, (len(atoms), 3)),
            stress=rng.normal(0, 0.01, 6),
        )
    path = tmp_path / 'frames.xyz'
    write_extxyz(path, frames)
    back = read(path, index=':')
    assert path.read_text() == extxyz_string(frames)
    assert len(back) == 2
    for original, copy in zip(frames, back, strict=True):
        np.testing.assert_array_equal(copy.positions, original.positions)
        np.testing.assert_array_equal(copy.cell.array, original.cell.array)
        assert copy.get_potential_energy() == original.get_potential_energy()
        np.testing.assert_array_equal(copy.get_forces(), original.get_forces())
        np.testing.assert_array_equal(copy.get_stress(), original.get_stress())
        assert copy.info['generator'] == 'rattle'
        assert copy.info['amplitude_A'] == original.info['amplitude_A']
    buffer = io.StringIO()
    write_extxyz(buffer, frames[:1])
    assert buffer.getvalue().startswith('4\n')
