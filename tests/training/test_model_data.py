"""ModelData: what it refuses, what it records (a real package is stored in test_nequip_train_calculation.py)."""

from __future__ import annotations

import hashlib
import zipfile

import pytest

from aiida_mlipgen.data.model import ModelData

METADATA = """\
atom_types:
  0: Ge
  1: Si
versions:
  nequip: 0.19.1
  torch: 2.13.0+cpu
"""


@pytest.fixture
def package(tmp_path):
    """A zip laid out like a NequIP package (``<name>/model/package_metadata.txt``), no model inside."""
    path = tmp_path / 'model.nequip.zip'
    with zipfile.ZipFile(path, 'w') as archive:
        archive.writestr('model.nequip/model/package_metadata.txt', METADATA)
    return path


def test_records_species_cutoff_hash_and_config(aiida_profile, package, tmp_path):
    model = ModelData(package, cutoff=5.0, config={'num_layers': 3}, training_dataset_uuid='abc').store()
    assert model.species == ['Ge', 'Si']  # from the package's type names
    assert model.cutoff == 5.0
    assert model.sha256 == hashlib.sha256(package.read_bytes()).hexdigest()
    assert model.base.attributes.get('nequip_version') == '0.19.1'
    assert model.get_config() == {'num_layers': 3}
    assert model.training_dataset_uuid == 'abc'
    assert model.export(tmp_path / 'copy.nequip.zip').read_bytes() == package.read_bytes()
    with model.as_path() as path:
        assert path.read_bytes() == package.read_bytes()


@pytest.mark.parametrize(
    ('kwargs', 'message'),
    [
        ({'cutoff': 0.0}, 'the cutoff must be positive'),
        ({'cutoff': 4.0, 'species': ['Si']}, 'differ from the package type names'),
    ],
)
def test_refuses_inconsistent_metadata(aiida_profile, package, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ModelData(package, **kwargs)


def test_refuses_files_that_are_no_package(aiida_profile, tmp_path):
    text = tmp_path / 'model.nequip.zip'
    text.write_text('not a zip')
    with pytest.raises(ValueError, match='not a zip archive'):
        ModelData(text, cutoff=4.0)
    empty = tmp_path / 'empty.nequip.zip'
    with zipfile.ZipFile(empty, 'w') as archive:
        archive.writestr('readme.txt', 'hello')
    with pytest.raises(ValueError, match='no `model/package_metadata.txt`'):
        ModelData(empty, cutoff=4.0)


def test_export_keeps_the_suffix_nequip_needs(aiida_profile, package, tmp_path):
    model = ModelData(package, cutoff=4.0)
    assert model.export(tmp_path).name == 'model.nequip.zip'
    with pytest.raises(ValueError, match='to end in `.nequip.zip`'):
        model.export(tmp_path / 'model.zip')
