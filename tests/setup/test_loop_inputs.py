"""``mlipgen run``'s codes and settings: defaults, YAML file and options, and the errors a user can fix."""

from __future__ import annotations

import pytest

from aiida_mlipgen.cli.loop_inputs import parse_code_options, read_config, resolve_code_labels


def test_codes_default_to_the_setup_labels_on_the_given_computer():
    assert resolve_code_labels({}, 'mycluster') == {
        'pw': 'pw@mycluster',
        'train': 'nequip-train@mycluster',
        'explore': 'mlipgen-explore@mycluster',
        'evaluate': 'mlipgen-evaluate@mycluster',
    }
    assert resolve_code_labels({})['pw'] == 'pw@localhost'


def test_file_then_options_win_over_the_defaults(tmp_path):
    path = tmp_path / 'loop.yaml'
    path.write_text('computer: cpu-cluster\ncodes:\n  train: nequip-train@gpu-cluster\n  pw: pw-7.2@cpu-cluster\n')
    config = read_config(path)
    labels = resolve_code_labels(config, None, parse_code_options(('pw=pw@other',)))
    assert labels == {
        'pw': 'pw@other',
        'train': 'nequip-train@gpu-cluster',
        'explore': 'mlipgen-explore@cpu-cluster',
        'evaluate': 'mlipgen-evaluate@cpu-cluster',
    }
    assert resolve_code_labels(config, 'laptop')['explore'] == 'mlipgen-explore@laptop'  # --computer wins


@pytest.mark.parametrize(
    ('values', 'message'),
    [(('pw',), 'give STAGE=CODE'), (('dft=pw@x',), 'unknown stages dft'), (('pw=',), 'give STAGE=CODE')],
)
def test_bad_code_options_say_what_is_expected(values, message):
    with pytest.raises(ValueError, match=message):
        parse_code_options(values)


def test_unknown_file_keys_are_refused(tmp_path):
    path = tmp_path / 'loop.yaml'
    path.write_text('computer: x\ncode: {pw: pw@x}\n')
    with pytest.raises(ValueError, match='unknown keys code'):
        read_config(path)
