"""Calibration of committee deviations against true errors, and the fitted lower trust level."""

import numpy as np
import pytest

from aiida_mlipgen.science.calibration import AdaptiveWindowSettings, false_negatives, fitted_trust_lo


def test_false_negatives_count_accurate_frames_with_large_true_errors():
    deviations = [0.01, 0.02, 0.03, 0.2]
    errors = [0.05, 0.5, 0.05, 0.6]
    result = false_negatives(deviations, errors, trust_lo=0.05, error_bound=0.3)
    assert result == {'called_accurate': 3, 'false_negatives': 1, 'false_negative_rate': pytest.approx(1 / 3)}
    assert false_negatives(deviations, errors, trust_lo=0.001, error_bound=0.3)['false_negative_rate'] is None


def test_a_perfectly_calibrated_committee_gets_the_level_where_errors_cross_the_target():
    """True error = 2 x deviation: errors pass 0.2 eV/A at deviation 0.1, so the level lands there."""
    deviations = np.linspace(0.01, 0.3, 30)
    settings = AdaptiveWindowSettings(target_error=0.2, max_false_negative_fraction=0.0)
    level = fitted_trust_lo(deviations, 2 * deviations, settings, trust_hi=1.0)
    assert 0.095 <= level <= 0.11
    called = false_negatives(deviations, 2 * deviations, level, 0.2)
    assert called['false_negatives'] == 0 and called['called_accurate'] == 10


def test_the_level_is_clipped_and_needs_enough_frames():
    settings = AdaptiveWindowSettings(target_error=10.0, min_frames=5)
    deviations = np.linspace(0.01, 0.3, 10)
    assert fitted_trust_lo(deviations, deviations, settings, trust_hi=0.2) == pytest.approx(0.18)
    assert fitted_trust_lo(deviations[:3], deviations[:3], settings, trust_hi=0.2) is None
    hopeless = AdaptiveWindowSettings(target_error=1e-6, floor=0.02)
    assert fitted_trust_lo(deviations, deviations, hopeless, trust_hi=0.2) == pytest.approx(0.02)


def test_bad_adaptive_settings_are_refused():
    with pytest.raises(ValueError, match='target error'):
        AdaptiveWindowSettings(target_error=0)
    with pytest.raises(ValueError, match='false_negative'):
        AdaptiveWindowSettings(target_error=0.1, max_false_negative_fraction=1.0)
