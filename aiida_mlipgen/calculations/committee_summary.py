"""``summarise_committee``: statistics of a committee's validation metrics, as a calcfunction for provenance."""

from __future__ import annotations

import numpy as np
from aiida import orm
from aiida.engine import calcfunction


def metric_statistics(metrics: dict[str, dict]) -> dict[str, dict[str, float]]:
    """Mean, standard deviation, min and max over members of every metric all of them report.

    :param metrics: member name -> that member's metrics (numbers; units in the keys).
    """
    if not metrics:
        return {}
    shared = set.intersection(*(set(values) for values in metrics.values()))
    statistics = {}
    for key in sorted(shared):
        values = np.array([float(member[key]) for member in metrics.values()])
        statistics[key] = {
            'mean': float(values.mean()),
            'std': float(values.std()),
            'min': float(values.min()),
            'max': float(values.max()),
        }
    return statistics


@calcfunction
def summarise_committee(members: orm.Dict, **metrics: orm.Dict) -> orm.Dict:
    """Committee summary: ``members`` (who finished, who failed and why) plus statistics of the ``metrics``.

    :param members: ``{'committee_size', 'min_members', 'seeds', 'finished', 'failed'}`` from the work chain.
    :param metrics: one validation metrics Dict per finished member, keyed by member name.
    """
    summary = members.get_dict()
    summary['num_finished'] = len(metrics)
    summary['metrics'] = metric_statistics({name: node.get_dict() for name, node in metrics.items()})
    return orm.Dict(summary)
