"""Load one NequIP 0.19 model file for inference, whatever form it was saved in.

Three forms are accepted, told apart by the file name:

- ``*.nequip.zip``: a package from ``nequip-package build`` (portable; eager PyTorch),
- ``*.ckpt``: a Lightning checkpoint from ``nequip-train`` (eager PyTorch, EMA weights),
- ``*.nequip.pt2``: an AOTInductor model from ``nequip-compile --mode aotinductor`` (fastest; runs
  only on the device kind it was compiled for; ``--target batch`` takes batches, ``--target ase``
  one frame at a time).

Models are assumed to work in eV and Angstrom, as every model trained by this package does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

#: File name endings of the model forms we can load.
PACKAGE_SUFFIX = '.nequip.zip'
CHECKPOINT_SUFFIX = '.ckpt'
COMPILED_SUFFIX = '.nequip.pt2'
MODEL_SUFFIXES = (PACKAGE_SUFFIX, CHECKPOINT_SUFFIX, COMPILED_SUFFIX)


@dataclass
class LoadedModel:
    """One model ready for inference.

    :param path: the file it came from.
    :param module: callable taking and returning an ``AtomicDataDict`` (dict of tensors).
    :param type_names: the model's atom type names, in type-index order.
    :param r_max: the model's cutoff radius, A.
    :param model_dtype: ``'float32'`` or ``'float64'``, the precision the model computes in.
    :param takes_batches: False for AOTI models compiled for one frame (``--target ase``).
    :param transforms: nequip data transforms (species -> type mapping, neighbour list) that turn a
        frame into the model's input.
    :param signature: equal for models whose transforms give identical inputs, so a batch built
        once can feed them all.
    :param min_batch_frames: fewest frames a batched call accepts: 2 for AOTI ``--target batch``
        models (exported for 2 or more frames), 1 otherwise.
    """

    path: Path
    module: torch.nn.Module
    type_names: list[str]
    r_max: float
    model_dtype: str
    takes_batches: bool
    species_to_type: dict[str, str]
    transforms: list[Any] = field(repr=False)
    signature: tuple = field(repr=False)
    min_batch_frames: int = 1


def model_form(path: str | Path) -> str:
    """Return which model form a file name denotes: ``'package'``, ``'checkpoint'`` or ``'compiled'``.

    :raises ValueError: for any other file name.
    """
    name = Path(path).name
    if name.endswith(PACKAGE_SUFFIX):
        return 'package'
    if name.endswith(CHECKPOINT_SUFFIX):
        return 'checkpoint'
    if name.endswith(COMPILED_SUFFIX):
        return 'compiled'
    raise ValueError(
        f'cannot tell what kind of NequIP model `{path}` is: expected a file name ending in one of '
        f'{", ".join(MODEL_SUFFIXES)}'
    )


def _build_transforms(metadata: dict, r_max: float, type_names: list[str], species_to_type: dict[str, str]):
    from nequip.integrations.utils import basic_transforms

    return basic_transforms(metadata, r_max, type_names, species_to_type)


def _resolve_species_map(type_names: list[str], species_to_type: dict[str, str] | None, path: Path) -> dict[str, str]:
    if species_to_type is None:
        return {name: name for name in type_names}
    unknown = sorted(set(species_to_type.values()) - set(type_names))
    if unknown:
        raise ValueError(f'species map points to types {unknown} that model `{path}` does not have ({type_names})')
    return dict(species_to_type)


def load_model(
    path: str | Path, device: str | torch.device = 'cpu', species_to_type: dict[str, str] | None = None
) -> LoadedModel:
    """Load one model file for inference on ``device``.

    :param path: a ``.nequip.zip``, ``.ckpt`` or ``.nequip.pt2`` file.
    :param device: ``'cpu'`` or ``'cuda'`` (or a ``torch.device``).
    :param species_to_type: chemical symbol -> model type name; default: the type names are the
        chemical symbols (true for every model this package trains).
    :raises FileNotFoundError: if the file does not exist.
    :raises ValueError: for an unknown file kind or a species map that does not fit the model.
    """
    from nequip.nn import graph_model
    from nequip.utils.global_state import set_global_state

    path = Path(path)
    form = model_form(path)
    if not path.is_file():
        raise FileNotFoundError(f'model file `{path}` does not exist')
    device = torch.device(device)
    set_global_state(allow_tf32=False)

    if form == 'compiled':
        from nequip.data import AtomicDataDict
        from nequip.model.inference_models import load_compiled_model
        from nequip.utils.aoti_metadata import NEQUIP_AOTI_INPUTS_KEY, parse_aoti_keys

        module, metadata = load_compiled_model(str(path), device)
        input_keys = parse_aoti_keys(metadata[NEQUIP_AOTI_INPUTS_KEY])
        takes_batches = AtomicDataDict.BATCH_KEY in input_keys
        type_names = list(metadata[graph_model.TYPE_NAMES_KEY])
        r_max = float(metadata[graph_model.R_MAX_KEY])
        model_dtype = str(metadata.get(graph_model.MODEL_DTYPE_KEY, 'float64'))
        loaded = _loaded(path, module, metadata, type_names, r_max, model_dtype, takes_batches, species_to_type)
        loaded.min_batch_frames = 2 if takes_batches else 1
        return loaded

    from nequip.model.saved_models.load_utils import load_saved_model

    return from_module(load_saved_model(str(path)), device, species_to_type, path)


def _loaded(path, module, metadata, type_names, r_max, model_dtype, takes_batches, species_to_type) -> LoadedModel:
    from nequip.nn import graph_model

    species_map = _resolve_species_map(type_names, species_to_type, path)
    transforms = _build_transforms(metadata, r_max, type_names, species_map)
    signature = (
        tuple(type_names),
        r_max,
        str(metadata.get(graph_model.PER_EDGE_TYPE_CUTOFF_KEY)),
        tuple(sorted(species_map.items())),
    )
    return LoadedModel(
        path=path,
        module=module,
        type_names=type_names,
        r_max=r_max,
        model_dtype=model_dtype,
        takes_batches=takes_batches,
        species_to_type=species_map,
        transforms=transforms,
        signature=signature,
    )


def from_module(
    module: torch.nn.Module,
    device: str | torch.device = 'cpu',
    species_to_type: dict[str, str] | None = None,
    path: str | Path = '<in memory>',
) -> LoadedModel:
    """Wrap an eager NequIP ``GraphModel`` already in memory (loaded, freshly built, or modified).

    :param path: the file it came from, or a name that stands in for one in messages.
    """
    from nequip.nn import graph_model

    module.eval()
    module.to(torch.device(device))
    metadata = dict(module.metadata)
    return _loaded(
        Path(path),
        module,
        metadata,
        metadata[graph_model.TYPE_NAMES_KEY].split(' '),
        float(metadata[graph_model.R_MAX_KEY]),
        metadata[graph_model.MODEL_DTYPE_KEY],
        True,
        species_to_type,
    )
