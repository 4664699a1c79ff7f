"""The ``mlipgen-evaluate`` console script, end to end on real files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase.io import read, write

from aiida_mlipgen.engines.committee import Committee
from aiida_mlipgen.engines.evaluate import DEVIATION_FIELDS, main
from aiida_mlipgen.science.extxyz import write_extxyz

LAMMPS_INPUT = """\
units metal
atom_style atomic
lattice diamond 5.431
region box block 0 2 0 2 0 2
create_box 1 box
create_atoms 1 box
mass 1 28.0855
pair_style sw
pair_coeff * * {potential} Si
velocity all create 600 1
fix 1 all nvt temp 600 600 0.1
dump d all custom 10 dump.lammpstrj id type x y z fx fy fz
run 30
"""


def test_console_script_end_to_end(tiny_committee, make_si_frames, tmp_path):
    frames = make_si_frames(5, seed=11)
    source = tmp_path / 'frames.extxyz'
    write_extxyz(source, frames)
    output, summary_file = tmp_path / 'evaluated.extxyz', tmp_path / 'summary.json'
    script = Path(sys.executable).parent / 'mlipgen-evaluate'
    command = [str(script), '--models', *map(str, tiny_committee.packages), '--input', str(source)]
    command += ['--output', str(output), '--summary', str(summary_file), '--batch-size', '2', '--with-mean']
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert 'evaluated 5 frames with 2 models' in completed.stdout

    evaluated = read(output, ':')
    expected = Committee.from_files(tiny_committee.packages).predict(frames)
    assert len(evaluated) == len(frames)
    summary = json.loads(summary_file.read_text())
    for index, (atoms, original) in enumerate(zip(evaluated, frames, strict=True)):
        deviation = expected.frame_deviation(index)
        for name in DEVIATION_FIELDS:
            assert atoms.info[name] == pytest.approx(getattr(deviation, name), rel=1e-10)
            assert summary['deviations'][name]['values'][index] == pytest.approx(atoms.info[name], rel=1e-12)
        # the input's labels travel unchanged; committee predictions never take their place
        assert atoms.get_potential_energy() == original.get_potential_energy()
        np.testing.assert_allclose(atoms.arrays['committee_forces'], expected.mean(index)['forces'], atol=1e-10)
    assert summary['num_frames'] == 5
    assert summary['num_members'] == 2
    assert summary['model_dtypes'] == ['float64', 'float64']
    maxima = [atoms.info['max_force_deviation'] for atoms in evaluated]
    assert summary['deviations']['max_force_deviation']['max'] == pytest.approx(max(maxima))


@pytest.mark.skipif(shutil.which('lmp') is None, reason='needs the LAMMPS executable `lmp`')
def test_reads_a_lammps_dump(tiny_committee, tmp_path, monkeypatch):
    potential = Path('/usr/share/lammps/potentials/Si.sw')
    if not potential.is_file():
        pytest.skip('needs the Si.sw potential of the Debian LAMMPS package')
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'in.si').write_text(LAMMPS_INPUT.format(potential=potential))
    subprocess.run(['lmp', '-in', 'in.si', '-log', 'none', '-screen', 'none'], check=True, timeout=120)

    arguments = ['--models', *map(str, tiny_committee.packages), '--input', 'dump.lammpstrj']
    assert main([*arguments, '--type-symbols', 'Si', '--output', 'out.extxyz', '--summary', 's.json']) == 0
    evaluated = read('out.extxyz', ':')
    assert [len(atoms) for atoms in evaluated] == [64] * 4
    assert all(atoms.calc is None for atoms in evaluated), 'the invented dump energy must not become a label'
    # the first dump frame is the perfect crystal: zero forces by symmetry for every member
    assert evaluated[0].info['max_force_deviation'] < 1e-8
    assert all(atoms.info['max_force_deviation'] > 1e-3 for atoms in evaluated[1:])
    assert all(set(atoms.get_chemical_symbols()) == {'Si'} for atoms in evaluated)


def test_bad_input_gives_exit_status_2(tiny_committee, make_si_frames, tmp_path, capsys):
    models = ['--models', *map(str, tiny_committee.packages)]
    outputs = ['--output', str(tmp_path / 'o.extxyz'), '--summary', str(tmp_path / 's.json')]

    assert main([*models, '--input', str(tmp_path / 'missing.extxyz'), *outputs]) == 2
    assert 'does not exist' in capsys.readouterr().err

    frames = make_si_frames(2, label=False)
    frames[0].symbols[0] = 'C'
    write(tmp_path / 'carbon.extxyz', frames)
    assert main([*models, '--input', str(tmp_path / 'carbon.extxyz'), *outputs]) == 2
    assert "frame 0 contains species ['C']" in capsys.readouterr().err
    assert not (tmp_path / 'o.extxyz').exists()

    write(tmp_path / 'si.extxyz', make_si_frames(1, label=False))
    assert main([*models, '--input', str(tmp_path / 'si.extxyz'), *outputs, '--batch-size', '0']) == 2
    assert 'batch-size' in capsys.readouterr().err
