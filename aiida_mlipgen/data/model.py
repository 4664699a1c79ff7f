"""``ModelData``: a packaged NequIP model (``nequip-package build`` archive) in the node's repository."""

from __future__ import annotations

import contextlib
import hashlib
import io
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import yaml
from aiida import orm

#: Name of the file inside every ``.nequip.zip`` that holds the package's metadata (YAML).
_PACKAGE_METADATA = 'model/package_metadata.txt'


def read_package_metadata(content: bytes) -> dict:
    """Return the metadata of a NequIP package (``atom_types``, ``versions``, ...) from its bytes.

    :raises ValueError: if the bytes are not a NequIP package (a zip with ``*/model/package_metadata.txt``).
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except zipfile.BadZipFile as exception:
        raise ValueError('not a NequIP package: the file is not a zip archive') from exception
    with archive:
        names = [name for name in archive.namelist() if name.endswith(_PACKAGE_METADATA)]
        if not names:
            raise ValueError(f'not a NequIP package: no `{_PACKAGE_METADATA}` in the archive')
        return yaml.safe_load(archive.read(names[0]).decode('utf-8')) or {}


class ModelData(orm.Data):
    """A NequIP model packaged with ``nequip-package build`` (``model.nequip.zip``), with what it was made of.

    Attributes (queryable): ``species`` (the chemical symbols it was trained on, which are its type
    names), ``cutoff`` (radial cutoff, A), ``sha256`` of the package (equal files, equal hash),
    ``training_dataset_uuid`` (the ``DatasetData`` it was trained on, if known), ``nequip_version`` and
    ``torch_version`` (from the package metadata), ``size_bytes``. The training config is kept as
    ``config.yaml`` beside the package.
    """

    FILENAME = 'model.nequip.zip'
    CONFIG_FILENAME = 'config.yaml'

    def __init__(
        self,
        filepath: str | Path,
        *,
        cutoff: float,
        species: Sequence[str] | None = None,
        config: dict | None = None,
        training_dataset_uuid: str | None = None,
        **kwargs,
    ):
        """Store the package at ``filepath`` (a ``.nequip.zip`` file).

        :param cutoff: the model's radial cutoff, A.
        :param species: the model's type names (chemical symbols); read from the package if not given.
        :param config: the ``nequip-train`` config the model was trained with.
        :param training_dataset_uuid: UUID of the training ``DatasetData``.
        :raises ValueError: for a file that is not a NequIP package, a cutoff <= 0, or species that
            differ from the package's own type names.
        """
        super().__init__(**kwargs)
        content = Path(filepath).read_bytes()
        metadata = read_package_metadata(content)
        package_species = [str(name) for _, name in sorted((metadata.get('atom_types') or {}).items())]
        if species is None:
            species = package_species
        if package_species and sorted(species) != sorted(package_species):
            raise ValueError(f'species {list(species)} differ from the package type names {package_species}')
        if not species:
            raise ValueError('a model needs at least one species')
        if not cutoff > 0:
            raise ValueError(f'the cutoff must be positive, got {cutoff} A')

        self.base.repository.put_object_from_bytes(content, self.FILENAME)
        if config is not None:
            text = yaml.safe_dump(config, sort_keys=False)
            self.base.repository.put_object_from_bytes(text.encode('utf-8'), self.CONFIG_FILENAME)
        versions = metadata.get('versions') or {}
        self.base.attributes.set_many(
            {
                'species': list(species),
                'cutoff': float(cutoff),
                'sha256': hashlib.sha256(content).hexdigest(),
                'size_bytes': len(content),
                'training_dataset_uuid': training_dataset_uuid,
                'nequip_version': versions.get('nequip'),
                'torch_version': versions.get('torch'),
            }
        )

    @property
    def species(self) -> list[str]:
        """Chemical symbols the model knows (its type names, in type-index order)."""
        return self.base.attributes.get('species')

    @property
    def cutoff(self) -> float:
        """Radial cutoff, A."""
        return self.base.attributes.get('cutoff')

    @property
    def sha256(self) -> str:
        """SHA-256 of the package file."""
        return self.base.attributes.get('sha256')

    @property
    def training_dataset_uuid(self) -> str | None:
        """UUID of the ``DatasetData`` the model was trained on, or None."""
        return self.base.attributes.get('training_dataset_uuid')

    @property
    def filename(self) -> str:
        """Name of the package file in the repository (for ``local_copy_list``)."""
        return self.FILENAME

    def get_config(self) -> dict | None:
        """The ``nequip-train`` config the model was trained with, or None if not recorded."""
        if self.CONFIG_FILENAME not in self.base.repository.list_object_names():
            return None
        return yaml.safe_load(self.base.repository.get_object_content(self.CONFIG_FILENAME, mode='r'))

    def get_content(self) -> bytes:
        """The package file's bytes."""
        return self.base.repository.get_object_content(self.FILENAME, mode='rb')

    def export(self, path: str | Path) -> Path:
        """Write the package to ``path`` (a file ending in ``.nequip.zip``, or a folder) and return the file."""
        path = Path(path)
        if path.is_dir():
            path = path / self.FILENAME
        if not path.name.endswith('.nequip.zip'):
            raise ValueError(f'NequIP needs package files to end in `.nequip.zip`, got {path.name}')
        path.write_bytes(self.get_content())
        return path

    def _prepare_zip(self, main_file_name: str = '', **kwargs) -> tuple[bytes, dict]:
        """The ``.nequip.zip`` package as bytes: the ``zip`` download format of the REST API (file ``filename``)."""
        return self.get_content(), {}

    @contextlib.contextmanager
    def as_path(self) -> Iterator[Path]:
        """Context manager giving a local path of the package file (valid inside the ``with`` block)."""
        with self.base.repository.as_path(self.FILENAME) as path:
            yield Path(path)
