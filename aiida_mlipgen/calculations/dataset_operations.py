"""Calcfunctions that make, merge and split datasets, so every dataset's origin is in the graph."""

from __future__ import annotations

from aiida import orm
from aiida.engine import calcfunction

from aiida_mlipgen.data.dataset import DatasetData
from aiida_mlipgen.science.initial_set import InitialSetRecipe, initial_frames
from aiida_mlipgen.science.splitting import split_indices


@calcfunction
def generate_initial_set(recipe: orm.Dict, **structures: orm.StructureData) -> DatasetData:
    """Unlabelled initial frames (supercells, rattled and strained copies) of the seed ``structures``.

    :param recipe: keys of :class:`~aiida_mlipgen.science.initial_set.InitialSetRecipe`.
    :param structures: the seed structures, taken in sorted key order (``info['seed_key']`` names them).
    """
    keys = sorted(structures)
    frames = initial_frames([structures[key].get_ase() for key in keys], InitialSetRecipe.from_dict(recipe.get_dict()))
    for atoms in frames:
        atoms.info['seed_key'] = keys[atoms.info['seed_index']]
    return DatasetData(frames)


@calcfunction
def merge_datasets(**datasets: DatasetData) -> DatasetData:
    """Concatenate datasets in sorted key order; labelled sets must share the same DFT settings.

    :raises ValueError: if two datasets were labelled with different DFT settings.
    """
    if not datasets:
        raise ValueError('nothing to merge')
    keys = sorted(datasets)
    fingerprints = {key: (datasets[key].labelling_settings or {}).get('sha256') for key in keys}
    distinct = {value for value in fingerprints.values() if value is not None}
    if len(distinct) > 1:
        raise ValueError(f'datasets labelled with different DFT settings cannot be merged: {fingerprints}')
    frames = [atoms for key in keys for atoms in datasets[key].get_atoms()]
    merged = DatasetData(frames)
    settings = next((datasets[key].labelling_settings for key in keys if datasets[key].labelling_settings), None)
    if settings is not None:
        merged.set_labelling_settings(settings)
    return merged


@calcfunction
def split_dataset(dataset: DatasetData, fractions: orm.Dict, seed: orm.Int) -> dict[str, DatasetData]:
    """Split into parts named by ``fractions`` (e.g. train/validation/test: 0.8/0.1/0.1), shuffled with ``seed``.

    Parts with fraction 0 are not returned. Each frame keeps its info; labelling settings carry over.
    """
    frames = dataset.get_atoms()
    parts = {}
    for name, indices in split_indices(len(frames), fractions.get_dict(), seed.value).items():
        if not indices:
            continue
        part = DatasetData([frames[index] for index in indices])
        if dataset.labelling_settings:
            part.set_labelling_settings(dataset.labelling_settings)
        parts[name] = part
    return parts
