"""Structure files and seeds checked before anything runs, without AiiDA."""

from __future__ import annotations

import pytest
from ase import Atoms
from ase.build import bulk, molecule

from aiida_mlipgen.science.structure_checks import read_structure_file, structure_problem


@pytest.mark.parametrize(
    ('name', 'content', 'match'),
    [
        ('empty.xyz', '', 'the file is empty'),
        (
            'fake.cif',
            'hello\n',
            r'not a readable structure file for ASE \(format from the name `\.cif`; AssertionError',
        ),
        ('only_header.cif', 'data_x\n_cell_length_a 5\n', 'no structure in the file'),
        ('bad.xyz', '1\n\nXx 0 0 0\n', "KeyError: 'Xx'"),
    ],
)
def test_unreadable_files_are_named_in_one_line(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ValueError, match=match) as error:
        read_structure_file(path)
    assert str(path) in str(error.value) and '\n' not in str(error.value)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ValueError, match='missing.xyz: cannot read the file'):
        read_structure_file(tmp_path / 'missing.xyz')


def test_seed_problems_name_the_structure():
    close = bulk('Si', 'diamond', a=5.43)
    close.positions[1] = close.positions[0] + [0.3, 0, 0]
    assert structure_problem('si2', bulk('Si', 'diamond', a=5.43)) is None
    assert 'atoms 0 (Si) and 1 (Si) are 0.30 A apart, below 1.11 A' in structure_problem('si2', close)
    assert 'no periodic cell' in structure_problem('water', molecule('H2O'))
    assert 'has no atoms' in structure_problem('nothing', Atoms(cell=[5, 5, 5], pbc=True))
