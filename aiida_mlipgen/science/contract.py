"""What the stages of active learning share, defined once: trust levels, the accurate fraction, condition
labels, the deviation keys and their units, and the checks of these values.

The exploration engine, selection, the exploration work chain and the loop all read and write these through
this module, so that a setting has one name, one unit and one check wherever it appears. No AiiDA import.

Trust levels follow DP-GEN (Y. Zhang et al., Comput. Phys. Commun. 253, 107206 (2020)): a half-open window
[lo, hi) on each committee deviation; the force window is always on, the energy and stress windows optional.
The user-facing keys are flat: ``force_trust_lo``, ``force_trust_hi`` (eV/A), ``energy_trust_lo``,
``energy_trust_hi`` (eV/atom), ``stress_trust_lo``, ``stress_trust_hi`` (GPa).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

# -- deviation keys in ``atoms.info`` and their units ---------------------------------------------------------

#: Max over atoms of the committee force deviation (DP-GEN's max_devi_f), eV/A.
MAX_FORCE_DEVIATION = 'max_force_deviation'
#: The same per-atom deviation averaged over atoms, eV/A.
MEAN_FORCE_DEVIATION = 'mean_force_deviation'
#: Standard deviation of the members' total energies over the number of atoms, eV/atom.
ENERGY_DEVIATION_PER_ATOM = 'energy_deviation_per_atom'
#: Max over the Voigt components of the members' stress standard deviation, eV/A^3 (as ASE stores stress).
STRESS_DEVIATION = 'stress_deviation'
#: Unit of each deviation key as stored in ``atoms.info``.
DEVIATION_UNITS = {
    MAX_FORCE_DEVIATION: 'eV/A',
    MEAN_FORCE_DEVIATION: 'eV/A',
    ENERGY_DEVIATION_PER_ATOM: 'eV/atom',
    STRESS_DEVIATION: 'eV/A^3',
}

#: ``atoms.arrays`` key of the per-atom committee force deviation sqrt(mean_k |F_ik - <F_i>|^2), eV/A: the
#: values whose maximum is :data:`MAX_FORCE_DEVIATION`, written by exploration on every sampled frame.
FORCE_DEVIATION_PER_ATOM = 'force_deviation'

#: ``atoms.info`` key of the exploration condition a frame was sampled under (see :func:`condition_label`).
CONDITION_KEY = 'condition'
#: ``atoms.info`` key of the exploration structure a frame comes from.
STRUCTURE_KEY = 'structure'
#: ``atoms.info`` key of a frame's class.
CLASS_KEY = 'class'

#: Frame classes, in order of increasing deviation: below every lo, inside a window, at or above a hi.
ACCURATE = 'accurate'
CANDIDATE = 'candidate'
FAILED = 'failed'
CLASSES = (ACCURATE, CANDIDATE, FAILED)

# -- shared checks ---------------------------------------------------------------------------------------------


def check_number(value, name: str, *, minimum: float | None = None, positive: bool = False) -> float:
    """``value`` as a float; ``ValueError`` naming ``name`` unless it is a finite number (and >= ``minimum``,
    or > 0 with ``positive``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f'{name} must be a number, got {value!r}')
    if not math.isfinite(value):
        raise ValueError(f'{name} must be finite, got {value}')
    if positive and value <= 0:
        raise ValueError(f'{name} must be positive, got {value}')
    if minimum is not None and value < minimum:
        bound = 'non-negative' if minimum == 0 else f'at least {minimum}'
        raise ValueError(f'{name} must be {bound}, got {value}')
    return float(value)


def validate_trust_window(lo, hi, name: str = 'trust window') -> None:
    """Raise ``ValueError`` unless ``0 <= lo < hi`` and both are finite numbers."""
    for label, value in (('lo', lo), ('hi', hi)):
        check_number(value, f'{name}: {label}', minimum=0)
    if lo >= hi:
        raise ValueError(f'{name}: lo ({lo}) must be smaller than hi ({hi})')


# -- trust levels ----------------------------------------------------------------------------------------------

#: DP-GEN's example trust window on the max force deviation, eV/A.
DEFAULT_FORCE_TRUST_LO = 0.05
DEFAULT_FORCE_TRUST_HI = 0.15
#: The measures with a trust window, their unit, and the :class:`TrustLevels` field of each.
MEASURE_UNITS = {'force': 'eV/A', 'energy': 'eV/atom', 'stress': 'GPa'}
_FIELDS = {'force': 'force', 'energy': 'energy_per_atom', 'stress': 'stress'}
#: Every key of the trust-level schema.
TRUST_KEYS = tuple(f'{measure}_trust_{bound}' for measure in MEASURE_UNITS for bound in ('lo', 'hi'))


@dataclass(frozen=True)
class TrustWindow:
    """Half-open window [lo, hi) on one deviation measure (units those of the measure)."""

    lo: float
    hi: float

    def __post_init__(self):
        validate_trust_window(self.lo, self.hi)


@dataclass(frozen=True)
class TrustLevels:
    """Trust windows of the enabled measures.

    :param force: window on the max force deviation, eV/A (always enabled; DP-GEN's 0.05/0.15 by default).
    :param energy_per_atom: optional window on the energy deviation per atom, eV/atom.
    :param stress: optional window on the stress deviation, GPa.
    """

    force: TrustWindow = TrustWindow(DEFAULT_FORCE_TRUST_LO, DEFAULT_FORCE_TRUST_HI)
    energy_per_atom: TrustWindow | None = None
    stress: TrustWindow | None = None

    def __post_init__(self):
        # Accept (lo, hi) pairs as well as windows.
        for name in _FIELDS.values():
            value = getattr(self, name)
            if isinstance(value, TrustWindow) or (value is None and name != 'force'):
                continue
            if isinstance(value, (list, tuple)) and len(value) == 2:
                object.__setattr__(self, name, TrustWindow(*value))
                continue
            raise ValueError(f'the {name} trust window must be a TrustWindow or a (lo, hi) pair, got {value!r}')

    @classmethod
    def from_dict(cls, values: Mapping | None) -> TrustLevels:
        """Read the flat keys (:data:`TRUST_KEYS`); the force window defaults to DP-GEN's, energy and stress
        windows are on when both their keys are given.

        :raises ValueError: naming the key: an unknown key, only one bound of a window, lo >= hi, a negative
            or non-finite level.
        """
        if values is None:
            values = {}
        if not isinstance(values, Mapping):
            raise ValueError(f'trust levels must be a mapping of {list(TRUST_KEYS)}, got {values!r}')
        unknown = sorted(set(values) - set(TRUST_KEYS))
        if unknown:
            raise ValueError(f'unknown trust level key(s) {unknown}; known: {list(TRUST_KEYS)}')
        windows = {}
        for measure, unit in MEASURE_UNITS.items():
            lo, hi = values.get(f'{measure}_trust_lo'), values.get(f'{measure}_trust_hi')
            if measure == 'force':
                lo = DEFAULT_FORCE_TRUST_LO if lo is None else lo
                hi = DEFAULT_FORCE_TRUST_HI if hi is None else hi
            elif lo is None and hi is None:
                continue
            elif lo is None or hi is None:
                raise ValueError(f'give both {measure}_trust_lo and {measure}_trust_hi ({unit}), or neither')
            validate_trust_window(lo, hi, name=f'{measure} trust window ({unit})')
            windows[_FIELDS[measure]] = TrustWindow(float(lo), float(hi))
        return cls(**windows)

    def to_dict(self) -> dict[str, float]:
        """The flat keys of the enabled windows; :meth:`from_dict` reads it back."""
        values = {}
        for measure, field in _FIELDS.items():
            window = getattr(self, field)
            if window is not None:
                values[f'{measure}_trust_lo'], values[f'{measure}_trust_hi'] = window.lo, window.hi
        return values


def split_trust_levels(values: Mapping) -> tuple[dict, dict]:
    """Split a mapping into its trust-level keys and the rest."""
    levels = {key: value for key, value in values.items() if key in TRUST_KEYS}
    return levels, {key: value for key, value in values.items() if key not in TRUST_KEYS}


# -- the accurate fraction -------------------------------------------------------------------------------------

#: Name of the convergence threshold wherever it appears (loop input, selection, convergence rules).
MIN_ACCURATE_FRACTION_KEY = 'min_accurate_fraction'
#: DPGEN2's convergence check (``conv_accuracy``): accurate fraction at least this in every condition.
DEFAULT_MIN_ACCURATE_FRACTION = 0.9


def check_accurate_fraction(value) -> float:
    """``value`` as a float; ``ValueError`` unless it is in (0, 1]."""
    value = check_number(value, MIN_ACCURATE_FRACTION_KEY)
    if not 0 < value <= 1:
        raise ValueError(f'{MIN_ACCURATE_FRACTION_KEY} must be in (0, 1], got {value}')
    return value


# -- condition labels ------------------------------------------------------------------------------------------


def check_structure_name(name) -> str:
    """A structure name safe in file names, link labels and condition labels: letters, digits, - and _."""
    if not isinstance(name, str) or not name or not name.replace('-', '').replace('_', '').isalnum():
        raise ValueError(f'structure name {name!r} must be letters, digits, - and _ only')
    return name


def condition_label(structure: str, temperature_K: float, pressure_GPa: float | None = None) -> str:  # noqa: N803
    """The label of one exploration condition, e.g. ``si64_300K`` or ``si64_300K_5GPa`` (numbers as ``%g``).

    Every stage that samples frames under a condition (ASE exploration, classical MD) labels them with this,
    and selection and the exploration test set group frames by it.
    """
    label = f'{check_structure_name(structure)}_{check_number(temperature_K, "temperature_K", positive=True):g}K'
    if pressure_GPa is not None:
        label += f'_{check_number(pressure_GPa, "pressure_GPa"):g}GPa'
    return label
