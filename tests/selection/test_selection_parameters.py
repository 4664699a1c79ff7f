"""`parse_selection_parameters`: the check work chains run before launching anything (no AiiDA needed)."""

from __future__ import annotations

import pytest

from aiida_mlipgen.science.contract import TRUST_KEYS, TrustWindow
from aiida_mlipgen.science.selection import parse_selection_parameters


def test_defaults_are_dp_gen_window_and_budget():
    parameters = parse_selection_parameters({})
    assert parameters.trust_levels.force == TrustWindow(0.05, 0.15)
    assert parameters.trust_levels.energy_per_atom is None and parameters.trust_levels.stress is None
    assert (parameters.max_selected, parameters.method, parameters.min_accurate_fraction) == (50, 'fps', 0.9)
    full = parameters.as_dict()  # the full form reads back, split as the loop passes it
    trust_levels = {key: full.pop(key) for key in TRUST_KEYS if key in full}
    fraction = full.pop('min_accurate_fraction')
    assert parse_selection_parameters(full, trust_levels, fraction) == parameters


def test_optional_windows_and_descriptor_settings():
    parameters = parse_selection_parameters(
        {'descriptor': {'cutoff': 4.0, 'angle_cutoff': 2.6}},
        trust_levels={
            'force_trust_lo': 0.2,
            'force_trust_hi': 0.5,
            'energy_trust_lo': 0.015,
            'energy_trust_hi': 0.1,
            'stress_trust_lo': 1,
            'stress_trust_hi': 5,
        },
    )
    assert parameters.trust_levels.energy_per_atom == TrustWindow(0.015, 0.1)
    assert parameters.trust_levels.stress == TrustWindow(1.0, 5.0)
    assert parameters.as_dict()['descriptor'] == {'cutoff': 4.0, 'angle_cutoff': 2.6}


@pytest.mark.parametrize(
    ('parameters', 'match'),
    [
        ({'force_trust_hi': 0.04}, r'force trust window \(eV/A\): lo \(0.05\) must be smaller than hi \(0.04\)'),
        ({'stress_trust_lo': 2, 'stress_trust_hi': 1}, r'stress trust window \(GPa\)'),
        ({'energy_trust_lo': -0.01, 'energy_trust_hi': 0.1}, 'must be non-negative'),
        ({'force_trust_hi': float('inf')}, 'must be finite'),
        ({'force_trust_hi': '0.2'}, 'must be a number'),
        ({'max_selected': 2.5}, 'max_selected must be an integer'),
        ({'max_selected': -3}, 'max_selected must be at least 1'),
        ({'seed': -1}, 'seed must be at least 0'),
        ({'descriptor': {'species': ['Si']}}, r"unknown descriptor setting\(s\) \['species'\]"),
        ({'descriptor': {'cutoff': 3.0, 'angle_cutoff': 4.0}}, 'angle_cutoff .* may not exceed cutoff'),
    ],
)
def test_bad_parameters_name_the_problem(parameters, match):
    trust_levels = {key: value for key, value in parameters.items() if key in TRUST_KEYS}
    rest = {key: value for key, value in parameters.items() if key not in TRUST_KEYS}
    with pytest.raises(ValueError, match=match):
        parse_selection_parameters(rest, trust_levels)


def test_accurate_fraction_out_of_range_is_refused():
    with pytest.raises(ValueError, match=r'min_accurate_fraction must be in \(0, 1\]'):
        parse_selection_parameters({}, min_accurate_fraction=1.5)
