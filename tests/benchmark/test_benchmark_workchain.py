"""BenchmarkWorkChain with the real mlipgen-benchmark and pw.x on tiny silicon cells."""

from __future__ import annotations

import pytest
from aiida import orm
from aiida.engine import run_get_node
from ase.build import bulk

from aiida_mlipgen.data.dataset import DatasetData
from aiida_mlipgen.workflows.benchmark import BenchmarkWorkChain
from tests.silicon import si_frames

#: Cheap but real DFT: low cutoffs, coarse k-points (the labelling tests' settings).
CHEAP_DFT = {'pw': {'kpoints_distance': 0.6, 'pw': {'parameters': {'SYSTEM': {'ecutwfc': 16.0, 'ecutrho': 64.0}}}}}
SHORT_NVE = {'temperatures_K': [300], 'steps': 60, 'interval': 5, 'frame_interval': 10}


@pytest.fixture
def si2():
    return orm.StructureData(ase=bulk('Si', 'diamond', a=5.43))


@pytest.mark.slow
def _rattled_si2(count: int) -> list:
    from ase.build import bulk

    frames = []
    for seed in range(count):
        atoms = bulk('Si', 'diamond', a=5.43)
        atoms.rattle(0.05, seed=seed)
        frames.append(atoms)
    return frames


def test_teacher_against_its_own_labels_and_against_pw(benchmark_code, pw_code, pseudo_family, si2):
    """Known answers: the SW teacher has zero error on SW labels; EOS and phonons compare SW with real pw.x."""
    test_set = DatasetData(si_frames(4, seed=7)).store()
    builder = BenchmarkWorkChain.get_builder_from_protocol(
        {'benchmark': benchmark_code, 'pw': pw_code},
        test_datasets={'sw': test_set},
        reference_structures={'si2': si2},
        protocol='fast',
        overrides={'nve': SHORT_NVE, 'dft': CHEAP_DFT},
        teacher='stillinger-weber-si',
        reference_frames={'si2': DatasetData(_rattled_si2(4))},
    )
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    metrics = results['metrics'].get_dict()
    # RDF and bond angles of the MD against the reference frames of the same structure
    run = metrics['checks']['nve']['runs']['si2_300K']
    assert 0 <= run['rdf_difference'] < 2 and 0 <= run['adf_difference'] < 2
    test_errors = metrics['checks']['test_errors_sw']
    assert test_errors['overall']['forces']['max_abs'] == pytest.approx(0.0, abs=1e-7)
    assert test_errors['overall']['energy_per_atom']['max_abs'] == pytest.approx(0.0, abs=1e-7)
    assert test_errors['passed'] and 'calibration' not in test_errors  # one potential: no deviations
    # stable MD (the RDF and ADF against rattled crystals are allowed to differ: they are not 300 K MD)
    assert run['failure'] is None and run['checks']['drift']['passed'] and run['checks']['no_failure']['passed']
    eos = metrics['checks']['eos_si2']
    # SW's a0 (5.431 A) against PBE at 16 Ry: a few per cent apart at most; the numbers, not a pass, are the point
    assert abs(eos['lattice_constant_relative_error']) < 0.05 and eos['dft']['bulk_modulus_GPa'] > 50
    phonons = metrics['checks']['phonons_si2']
    assert phonons['num_dft_displacements'] == phonons['num_displacements'] == 1
    assert 0 < phonons['mae_THz'] < 5
    assert set(results['arrays']) == {'test_errors_sw', 'nve', 'eos_si2', 'phonons_si2'}
    # provenance: each check's metrics come from a calcfunction fed by the model's and DFT's outputs
    creator = results['check_metrics']['eos_si2'].creator
    assert {link.link_label for link in creator.base.links.get_incoming().all()} >= {'model_predictions', 'dft_dataset'}


def test_refuses_two_potentials_and_checks_without_their_data(benchmark_code, committee_models, si2):
    builder = BenchmarkWorkChain.get_builder()
    builder.model.code = benchmark_code
    builder.models = committee_models
    builder.teacher = orm.Str('stillinger-weber-si')
    builder.nve = orm.Dict(SHORT_NVE)
    with pytest.raises(ValueError, match='either as `models`'):
        run_get_node(builder)
    del builder.teacher
    with pytest.raises(ValueError, match='need `reference_structures`'):
        run_get_node(builder)
    builder.reference_structures = {'si2': si2}
    builder.eos = orm.Dict({'volume_changes_percent': [-2, 0, 2, 4]})
    with pytest.raises(ValueError, match='give the labelling inputs in `dft`'):
        run_get_node(builder)


def test_fast_protocol_builder(benchmark_code, pw_code, pseudo_family, committee_models, si2):
    """The fast protocol: every check, cheap settings, DFT from the labelling protocol of the same name."""
    builder = BenchmarkWorkChain.get_builder_from_protocol(
        {'benchmark': benchmark_code, 'pw': pw_code},
        models=committee_models,
        test_datasets={'t': DatasetData(si_frames(2)).store()},
        reference_structures={'si2': si2},
        protocol='fast',
        overrides={'eos': {'targets': {'lattice_constant_relative_error': 0.01}}},
    )
    assert builder.nve['steps'] == 300 and builder.nve['targets']['drift_eV_per_atom_per_ps'] == 1e-4
    assert builder.eos['volume_changes_percent'] == [-6.0, -3.0, 0.0, 3.0, 6.0]
    assert builder.eos['targets'] == {'lattice_constant_relative_error': 0.01, 'bulk_modulus_relative_error': 0.05}
    assert builder.phonons['supercell_matrix'] == [1, 1, 1] and builder.phonons['targets']['mae_THz'] == 0.5
    assert builder.test_errors['targets']['forces_rmse_eV_per_A'] == 0.15
    parameters = builder.dft['pw']['pw']['parameters'].get_dict()
    assert parameters['CONTROL']['tprnfor'] and parameters['CONTROL']['tstress']
    assert set(builder.dft['pseudos']) == {'Si'}
    only_nve = BenchmarkWorkChain.get_builder_from_protocol(
        {'benchmark': benchmark_code}, models=committee_models, reference_structures={'si2': si2}, checks=('nve',)
    )
    pruned = only_nve._inputs(prune=True)
    assert 'nve' in pruned and 'eos' not in pruned and 'dft' not in pruned
