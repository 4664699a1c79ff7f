"""Calcfunctions of the benchmarking stage: the structures each check needs, and each check's analysis.

Every number of a benchmark comes out of one of these, with the model's predictions and the DFT labels
as inputs, so the graph leads from a metric to the ``ModelBenchmarkCalculation`` and ``PwCalculation`` s
behind it. The science is in :mod:`aiida_mlipgen.science` (``benchmark_errors``, ``eos``,
``phonons``, ``md_stability``).
"""

from __future__ import annotations

import contextlib

import numpy as np
from aiida import orm
from aiida.engine import calcfunction
from ase import Atoms

from aiida_mlipgen.data.dataset import DatasetData
from aiida_mlipgen.science.benchmark_errors import check, dataset_errors, parity_arrays
from aiida_mlipgen.science.contract import TrustLevels

#: The frame-key prefix of LabellingWorkChain for frames given as a dataset (``frame_00000``, ...).
FRAME_KEY_PREFIX = 'frame_'


def predicted(atoms: Atoms) -> dict:
    """The prediction that ``mlipgen-benchmark`` wrote beside a frame's labels."""
    result = {'energy': float(atoms.info['committee_energy']), 'forces': np.asarray(atoms.arrays['committee_forces'])}
    stress = np.asarray(atoms.info.get('committee_stress', np.full(6, np.nan)), dtype=float).reshape(-1)
    if stress.size == 6 and np.isfinite(stress).all():
        result['stress'] = stress
    return result


def _array(arrays: dict[str, np.ndarray]) -> orm.ArrayData:
    node = orm.ArrayData()
    for name, values in arrays.items():
        node.set_array(name, np.asarray(values))
    return node


def _dft_by_index(dataset: DatasetData) -> dict[int, Atoms]:
    """DFT-labelled frames keyed by their index in the dataset that was sent to labelling."""
    return {int(str(atoms.info['frame_key']).removeprefix(FRAME_KEY_PREFIX)): atoms for atoms in dataset.get_atoms()}


def _json(value):
    if isinstance(value, dict):
        return {key: _json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json(item) for item in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


@calcfunction
def holdout_errors(predictions: DatasetData, parameters: orm.Dict, trust_levels: orm.Dict | None = None) -> dict:
    """Errors of the model on a labelled test set, per species and configuration type, with parity arrays.

    :param parameters: ``targets`` (``energy_rmse_eV_per_atom``, ``forces_rmse_eV_per_A``, ``stress_rmse_GPa``:
        upper bounds).
    :param trust_levels: the committee's trust levels; ``force_trust_lo`` (eV/A, default 0.05) is the deviation
        below which a frame is called accurate, for the false-negative rate.
    """
    settings = parameters.get_dict()
    force_trust_lo = TrustLevels.from_dict(trust_levels.get_dict() if trust_levels is not None else None).force.lo
    frames = predictions.get_atoms()
    predictions_list = [predicted(atoms) for atoms in frames]
    deviations = [float(atoms.info['max_force_deviation']) for atoms in frames]
    committee = bool(np.isfinite(deviations).all())  # a single model has no deviations
    report = dataset_errors(frames, predictions_list, deviations if committee else None, trust_lo=force_trust_lo)
    targets = settings.get('targets', {})
    overall = report['overall']
    values = {
        'energy_rmse_eV_per_atom': overall.get('energy_per_atom', {}).get('rmse'),
        'forces_rmse_eV_per_A': overall.get('forces', {}).get('rmse'),
        'stress_rmse_GPa': overall.get('stress', {}).get('rmse'),
    }
    report['checks'] = {name: check(values[name], target) for name, target in targets.items() if name in values}
    report['passed'] = all(item['passed'] for item in report['checks'].values())
    arrays = parity_arrays(frames, predictions_list)
    arrays['max_force_deviation'] = np.array(deviations)
    from aiida_mlipgen.science.metrics import max_force_errors

    arrays['max_force_error'] = max_force_errors(
        [atoms.calc.results['forces'] for atoms in frames], [item['forces'] for item in predictions_list]
    )
    return {'metrics': orm.Dict(_json(report)), 'arrays': _array(arrays)}


@calcfunction
def eos_frames(structure: orm.StructureData, parameters: orm.Dict) -> DatasetData:
    """The structure scaled isotropically to each ``volume_changes_percent`` (fractional positions kept)."""
    from aiida_mlipgen.science.eos import scaled_cells

    return DatasetData(scaled_cells(structure.get_ase(), parameters['volume_changes_percent']))


@calcfunction
def eos_comparison(model_predictions: DatasetData, dft_dataset: DatasetData, parameters: orm.Dict) -> dict:
    """Birch-Murnaghan fits of the model's and DFT's E(V) on the same cells; errors of a0 and B0 against DFT.

    :param parameters: ``targets``: ``lattice_constant_relative_error`` (0.005) and
        ``bulk_modulus_relative_error`` (0.05), bounds on the absolute relative errors.
    """
    from aiida_mlipgen.science.eos import compare_fits, fit_birch_murnaghan

    model_frames = model_predictions.get_atoms()
    dft = _dft_by_index(dft_dataset)
    model_volumes = np.array([atoms.get_volume() for atoms in model_frames])
    model_energies = np.array([predicted(atoms)['energy'] for atoms in model_frames])
    indices = sorted(dft)
    dft_volumes = np.array([dft[index].get_volume() for index in indices])
    dft_energies = np.array([dft[index].get_potential_energy() for index in indices])
    num_atoms = len(model_frames[0])
    report: dict = {'num_atoms': num_atoms, 'num_volumes': len(model_frames), 'num_dft_volumes': len(indices)}
    arrays = {
        'model_volumes_A3': model_volumes,
        'model_energies_eV': model_energies,
        'dft_volumes_A3': dft_volumes,
        'dft_energies_eV': dft_energies,
    }
    targets = parameters.get_dict().get('targets', {})
    dense = np.linspace(model_volumes.min(), model_volumes.max(), 60)
    arrays['fit_volumes_A3'] = dense
    try:
        model_fit = fit_birch_murnaghan(model_volumes, model_energies)
        report['model'] = model_fit.as_dict()
        arrays['model_fit_energies_eV'] = model_fit.energies(dense)
    except ValueError as exception:
        report['model_error'] = str(exception)
    try:
        dft_fit = fit_birch_murnaghan(dft_volumes, dft_energies)
        report['dft'] = dft_fit.as_dict()
        arrays['dft_fit_energies_eV'] = dft_fit.energies(dense)
    except ValueError as exception:
        report['dft_error'] = str(exception)
    errors = compare_fits(model_fit, dft_fit) if 'model' in report and 'dft' in report else {}
    report.update(errors)
    report['checks'] = {name: check(errors.get(name), target) for name, target in targets.items()}
    report['passed'] = bool(report['checks']) and all(item['passed'] for item in report['checks'].values())
    return {'metrics': orm.Dict(_json(report)), 'arrays': _array(arrays)}


@calcfunction
def phonon_displacements(structure: orm.StructureData, parameters: orm.Dict) -> dict:
    """phonopy's symmetry-reduced displaced supercells of ``structure`` and its displacement dataset.

    :param parameters: ``supercell_matrix`` (3 integers or 3x3) and ``distance_A`` (0.01).
    """
    from aiida_mlipgen.science.phonon_bands import displaced_supercells

    settings = parameters.get_dict()
    matrix = np.asarray(settings['supercell_matrix'], dtype=int)
    matrix = np.diag(matrix) if matrix.shape == (3,) else matrix
    frames, dataset = displaced_supercells(structure.get_ase(), matrix, settings.get('distance_A', 0.01))
    return {'frames': DatasetData(frames), 'displacements': orm.Dict({**dataset, 'supercell_matrix': matrix.tolist()})}


@calcfunction
def phonon_comparison(
    structure: orm.StructureData,
    displacements: orm.Dict,
    model_predictions: DatasetData,
    dft_dataset: DatasetData,
    parameters: orm.Dict,
) -> dict:
    """Phonon bands and DOS from the model's and DFT's forces on the same displaced supercells; MAE in THz.

    :param parameters: ``band_points``, ``mesh`` and ``targets`` (``mae_THz``: 0.5).
    """
    from aiida_mlipgen.science.phonon_bands import frequency_errors, phonon_properties

    settings = parameters.get_dict()
    dataset = displacements.get_dict()
    matrix = dataset.pop('supercell_matrix')
    unitcell = structure.get_ase()
    model_forces = [predicted(atoms)['forces'] for atoms in model_predictions.get_atoms()]
    dft = _dft_by_index(dft_dataset)
    report: dict = {'num_displacements': len(model_forces), 'num_dft_displacements': len(dft)}
    targets = settings.get('targets', {})
    kwargs = {'band_points': settings.get('band_points', 51), 'mesh': settings.get('mesh', [12, 12, 12])}
    model = phonon_properties(unitcell, matrix, dataset, model_forces, **kwargs)
    arrays = {
        'distances': model['distances'],
        'special_distances': model['special_distances'],
        'model_frequencies_THz': model['frequencies_THz'],
        'model_gamma_THz': model['gamma_frequencies_THz'],
        'model_dos_frequencies_THz': model['dos_frequencies_THz'],
        'model_dos': model['dos'],
    }
    report['special_labels'] = model['special_labels']
    if sorted(dft) == list(range(len(model_forces))):
        reference = phonon_properties(unitcell, matrix, dataset, [dft[i].get_forces() for i in sorted(dft)], **kwargs)
        arrays['dft_frequencies_THz'] = reference['frequencies_THz']
        arrays['dft_gamma_THz'] = reference['gamma_frequencies_THz']
        arrays['dft_dos_frequencies_THz'] = reference['dos_frequencies_THz']
        arrays['dft_dos'] = reference['dos']
        report['bands'] = frequency_errors(model['frequencies_THz'], reference['frequencies_THz'])
        report['gamma'] = frequency_errors(model['gamma_frequencies_THz'], reference['gamma_frequencies_THz'])
        report['mae_THz'] = report['bands']['mae_THz']
        report['max_dft_frequency_THz'] = float(reference['frequencies_THz'].max())
    else:
        report['dft_error'] = f'DFT forces for {len(dft)} of {len(model_forces)} displaced supercells only'
    report['max_model_frequency_THz'] = float(model['frequencies_THz'].max())
    report['min_model_frequency_THz'] = float(model['frequencies_THz'].min())
    report['checks'] = {name: check(report.get(name), target) for name, target in targets.items()}
    report['passed'] = bool(report['checks']) and all(item['passed'] for item in report['checks'].values())
    return {'metrics': orm.Dict(_json(report)), 'arrays': _array(arrays)}


@calcfunction
def nve_stability(nve: orm.Dict, parameters: orm.Dict, nve_frames: DatasetData | None = None, **references) -> dict:
    """Drift, time to failure and (with DFT reference frames of a structure) the RDF difference of every NVE run.

    :param parameters: ``rdf_r_max`` (A), ``rdf_bins``, ``targets``: ``drift_eV_per_atom_per_ps`` (1e-5, a
        bound on the absolute drift) and ``rdf_difference`` (0.05); a run passes when it neither failed nor
        drifted beyond the target (nor differs in RDF beyond its target, where a reference is given).
    :param references: DatasetData of DFT-labelled frames of the same phase, keyed by structure name.
    """
    from aiida_mlipgen.science.md_stability import angular_distribution, radial_distribution, rdf_difference

    settings = parameters.get_dict()
    targets = settings.get('targets', {})
    r_max, bins = settings.get('rdf_r_max', 5.0), settings.get('rdf_bins', 100)
    frames = nve_frames.get_atoms() if nve_frames is not None else []
    runs, arrays = {}, {}
    for run in nve['runs']:
        label = run['label']
        time_to_failure = run['failure_time_fs'] / 1000 if run['failure'] else None
        drift = run['drift_eV_per_atom_per_ps']
        report = {
            'structure': run['structure'],
            'temperature_K': run['temperature_K'],
            'num_atoms': run['num_atoms'],
            'steps_done': run['steps_done'],
            'simulated_ps': run['steps_done'] * run['timestep_fs'] / 1000,
            'failure': run['failure'],
            'time_to_failure_ps': time_to_failure,
            'drift_eV_per_atom_per_ps': drift,
            'mean_temperature_K': float(np.nanmean(np.array(run['temperatures_K'], dtype=float))),
            'checks': {'no_failure': {'value': run['failure'], 'target': None, 'passed': run['failure'] is None}},
        }
        if 'drift_eV_per_atom_per_ps' in targets:
            report['checks']['drift'] = check(drift, targets['drift_eV_per_atom_per_ps'])
        for key in (
            'times_fs',
            'potential_energies_eV',
            'kinetic_energies_eV',
            'temperatures_K',
            'max_force_deviations',
        ):
            arrays[f'{label}__{key}'] = np.array(run[key], dtype=float)
        own = [atoms for atoms in frames if atoms.info.get('run') == label]
        if own:
            r, g_model = radial_distribution(own, r_max, bins)
            arrays[f'{label}__rdf'] = g_model
            arrays['rdf_r_A'] = r
            reference = references.get(run['structure'])
            if reference is not None:
                _, g_reference = radial_distribution(reference.get_atoms(), r_max, bins)
                arrays[f'{run["structure"]}__reference_rdf'] = g_reference
                report['rdf_difference'] = rdf_difference(g_model, g_reference)
                if 'rdf_difference' in targets:
                    report['checks']['rdf'] = check(report['rdf_difference'], targets['rdf_difference'])
                # Bond angles: the same relative difference, of the angular distributions (ADF).
                cutoff = settings.get('adf_cutoff_A', 2.8)
                with contextlib.suppress(ValueError):  # no bonded triplets within the cutoff: no ADF
                    angles, a_model = angular_distribution(own, cutoff)
                    _, a_reference = angular_distribution(reference.get_atoms(), cutoff)
                    arrays['adf_angle_deg'] = angles
                    arrays[f'{label}__adf'] = a_model
                    arrays[f'{run["structure"]}__reference_adf'] = a_reference
                    report['adf_difference'] = rdf_difference(a_model, a_reference)
                    if 'adf_difference' in targets:
                        report['checks']['adf'] = check(report['adf_difference'], targets['adf_difference'])
        report['passed'] = all(item['passed'] for item in report['checks'].values())
        runs[label] = report
    metrics = {'runs': runs, 'passed': bool(runs) and all(run['passed'] for run in runs.values())}
    return {'metrics': orm.Dict(_json(metrics)), 'arrays': _array(arrays)}


@calcfunction
def collect_benchmark(**checks: orm.Dict) -> orm.Dict:
    """The benchmark's metrics: each check's metrics under its name, and ``passed`` (all checks passed)."""
    metrics = {name: node.get_dict() for name, node in checks.items()}
    summary = {name: bool(values.get('passed')) for name, values in metrics.items()}
    return orm.Dict({'checks': metrics, 'passed': summary, 'all_passed': bool(summary) and all(summary.values())})
