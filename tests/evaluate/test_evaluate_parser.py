"""The ``mlipgen.evaluate`` parser on real engine output files, intact, missing, damaged or reporting errors."""

from __future__ import annotations

import pytest

from aiida_mlipgen.calculations.evaluate import CommitteeEvaluateCalculation
from aiida_mlipgen.data.dataset import DatasetData
from aiida_mlipgen.engines.evaluate import main
from aiida_mlipgen.parsers.evaluate import CommitteeEvaluateParser
from aiida_mlipgen.science.extxyz import write_extxyz
from tests.silicon import si_frames

OUTPUT = CommitteeEvaluateCalculation.OUTPUT_FILE
SUMMARY = CommitteeEvaluateCalculation.SUMMARY_FILE
STDERR = CommitteeEvaluateCalculation.STDERR_FILE
EXIT_CODES = CommitteeEvaluateCalculation.exit_codes


@pytest.fixture(scope='module')
def engine_output(tiny_committee, tmp_path_factory):
    """Real output of ``mlipgen-evaluate`` (two models, committee mean) on 4 labelled frames."""
    folder = tmp_path_factory.mktemp('engine_output')
    write_extxyz(folder / 'frames.extxyz', si_frames(4, seed=9))
    output, summary = folder / 'evaluated.extxyz', folder / 'evaluation.json'
    arguments = ['--models', *map(str, tiny_committee.packages), '--input', str(folder / 'frames.extxyz')]
    assert main([*arguments, '--output', str(output), '--summary', str(summary), '--with-mean']) == 0
    return {OUTPUT: output.read_text(), SUMMARY: summary.read_text()}


@pytest.fixture
def parse(evaluate_node, committee_models):
    """Parse given retrieved and temporary files of a node with the given inputs; return (results, exit status)."""

    def run(retrieved: dict, temporary: dict):
        node, temporary_folder = evaluate_node({'models': committee_models}, retrieved, temporary)
        results, process = CommitteeEvaluateParser.parse_from_node(
            node, store_provenance=False, retrieved_temporary_folder=str(temporary_folder)
        )
        return results, process.exit_status, process.exit_message

    return run


def test_intact_output(parse, engine_output):
    files = engine_output
    results, status, _ = parse({SUMMARY: files[SUMMARY], STDERR: ''}, {OUTPUT: files[OUTPUT]})
    assert status == 0
    assert set(results) == {'frames', 'statistics', 'metrics'}
    assert isinstance(results['frames'], DatasetData) and results['frames'].num_frames == 4
    statistics = results['statistics'].get_dict()
    assert statistics['num_members'] == 2
    assert statistics['deviations']['stress_deviation']['unit'] == 'eV/A^3'
    metrics = results['metrics'].get_dict()
    assert metrics['forces_mae_eV_per_A'] > 0 and 'deviation_error_spearman' in metrics


def test_missing_files(parse, engine_output):
    files = engine_output
    _, status, message = parse({STDERR: ''}, {OUTPUT: files[OUTPUT]})
    assert status == EXIT_CODES.ERROR_OUTPUT_FILES_MISSING.status
    assert SUMMARY in message
    results, status, message = parse({SUMMARY: files[SUMMARY], STDERR: 'Killed\n'}, {})
    assert status == EXIT_CODES.ERROR_OUTPUT_FILES_MISSING.status
    assert OUTPUT in message and 'Killed' in message
    assert 'frames' not in results


def test_unreadable_files(parse, engine_output):
    files = engine_output
    _, status, message = parse({SUMMARY: files[SUMMARY][:40]}, {OUTPUT: files[OUTPUT]})
    assert status == EXIT_CODES.ERROR_OUTPUT_FILES_UNREADABLE.status
    assert SUMMARY in message and 'not valid JSON' in message
    truncated = files[OUTPUT][: len(files[OUTPUT]) // 2]
    _, status, message = parse({SUMMARY: files[SUMMARY]}, {OUTPUT: truncated})
    assert status == EXIT_CODES.ERROR_OUTPUT_FILES_UNREADABLE.status
    assert OUTPUT in message


def test_engine_refusals(parse, tiny_committee, tmp_path, capsys):
    frames = si_frames(2, label=False)
    frames[0].symbols[0] = 'C'
    write_extxyz(tmp_path / 'carbon.extxyz', frames)
    arguments = ['--models', *map(str, tiny_committee.packages), '--input', str(tmp_path / 'carbon.extxyz')]
    assert main([*arguments, '--output', str(tmp_path / 'o.extxyz'), '--summary', str(tmp_path / 's.json')]) == 2
    stderr = capsys.readouterr().err
    _, status, message = parse({STDERR: stderr}, {})
    assert status == EXIT_CODES.ERROR_UNKNOWN_SPECIES.status
    assert "frame 0 contains species ['C']" in message


def test_labels_that_cannot_be_compared(parse, engine_output):
    files = engine_output
    # a label that is not a number: the errors cannot be computed, the frames and statistics still come out
    damaged = files[OUTPUT].replace(' energy=', ' energy=nan energy_was=', 1)
    results, status, message = parse({SUMMARY: files[SUMMARY]}, {OUTPUT: damaged})
    assert status == EXIT_CODES.ERROR_METRICS_FAILED.status
    assert 'non-finite' in message
    assert 'frames' in results and 'statistics' in results and 'metrics' not in results
