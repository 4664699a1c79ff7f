"""The contract between the stages: trust levels, the accurate fraction, condition labels (no AiiDA)."""

from __future__ import annotations

import math

import pytest

from aiida_mlipgen.science.contract import (
    DEVIATION_UNITS,
    TRUST_KEYS,
    TrustLevels,
    TrustWindow,
    check_accurate_fraction,
    check_structure_name,
    condition_label,
    split_trust_levels,
)
from aiida_mlipgen.science.deviations import FrameDeviation


def test_defaults_are_dp_gen_force_window_only():
    levels = TrustLevels.from_dict({})
    assert levels == TrustLevels() == TrustLevels.from_dict(None)
    assert levels.force == TrustWindow(0.05, 0.15)
    assert levels.energy_per_atom is None and levels.stress is None
    assert levels.to_dict() == {'force_trust_lo': 0.05, 'force_trust_hi': 0.15}


def test_one_key_schema_reads_back():
    values = {
        'force_trust_lo': 0.1,
        'force_trust_hi': 0.3,
        'energy_trust_lo': 0.005,
        'energy_trust_hi': 0.05,
        'stress_trust_lo': 0,
        'stress_trust_hi': 2,
    }
    levels = TrustLevels.from_dict(values)
    assert levels.energy_per_atom == TrustWindow(0.005, 0.05) and levels.stress == TrustWindow(0.0, 2.0)
    assert levels.to_dict() == {key: float(value) for key, value in values.items()}
    assert TrustLevels.from_dict(levels.to_dict()) == levels
    assert set(levels.to_dict()) == set(TRUST_KEYS)
    assert TrustLevels.from_dict({'force_trust_hi': 0.4}).force == TrustWindow(0.05, 0.4)  # lo keeps its default


@pytest.mark.parametrize(
    ('values', 'match'),
    [
        ({'force_trust_lo': 0.2, 'force_trust_hi': 0.1}, r'force trust window \(eV/A\): lo \(0.2\) must be smaller'),
        ({'force_trust_lo': 0.15, 'force_trust_hi': 0.15}, 'must be smaller than hi'),
        ({'force_trust_lo': -0.01}, 'lo must be non-negative'),
        ({'force_trust_hi': math.inf}, 'hi must be finite'),
        ({'force_trust_hi': math.nan}, 'hi must be finite'),
        ({'force_trust_hi': '0.2'}, 'hi must be a number'),
        ({'force_trust_hi': True}, 'hi must be a number'),
        ({'energy_trust_lo': 0.01}, r'give both energy_trust_lo and energy_trust_hi \(eV/atom\)'),
        ({'stress_trust_hi': 1.0}, r'give both stress_trust_lo and stress_trust_hi \(GPa\)'),
        ({'stress_trust_lo': 3, 'stress_trust_hi': 1}, r'stress trust window \(GPa\)'),
        ({'trust_lo': 0.05}, r"unknown trust level key\(s\) \['trust_lo'\]"),
        ({'energy_trust_per_atom': [0, 1]}, 'unknown trust level key'),
        ([0.05, 0.15], 'must be a mapping'),
    ],
)
def test_bad_levels_name_the_key(values, match):
    with pytest.raises(ValueError, match=match):
        TrustLevels.from_dict(values)


def test_windows_accept_pairs_and_refuse_the_rest():
    assert TrustLevels(force=(0.1, 0.2), stress=[1, 2]).stress == TrustWindow(1, 2)
    with pytest.raises(ValueError, match='force trust window must be'):
        TrustLevels(force=None)
    with pytest.raises(ValueError, match='energy_per_atom trust window must be'):
        TrustLevels(energy_per_atom=0.01)


def test_split_trust_levels():
    levels, rest = split_trust_levels({'force_trust_lo': 0.1, 'steps': 10})
    assert levels == {'force_trust_lo': 0.1} and rest == {'steps': 10}


@pytest.mark.parametrize('value', [0.5, 1, 1.0])
def test_accurate_fraction_in_range(value):
    assert check_accurate_fraction(value) == float(value)


@pytest.mark.parametrize('value', [0, -0.1, 1.01, math.nan, '0.9', None])
def test_accurate_fraction_out_of_range(value):
    with pytest.raises(ValueError, match='min_accurate_fraction must'):
        check_accurate_fraction(value)


def test_condition_labels():
    assert condition_label('si64', 300) == 'si64_300K'
    assert condition_label('si64', 300.5, 5.0) == 'si64_300.5K_5GPa'
    assert condition_label('Si-Ge_sqs', 1200.0, -2) == 'Si-Ge_sqs_1200K_-2GPa'
    for name in ('', 'si 64', 'si;64', 'a$(b)', 3):
        with pytest.raises(ValueError, match='letters, digits, - and _'):
            check_structure_name(name)
    with pytest.raises(ValueError, match='temperature_K must be positive'):
        condition_label('si64', 0)


def test_deviation_keys_are_those_of_frame_deviation():
    assert set(DEVIATION_UNITS) == set(FrameDeviation.__dataclass_fields__)
