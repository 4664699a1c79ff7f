"""Print, as one JSON line, every dataset's and model's stored hash beside the hash of its file as stored now.

Usage: python archive_hashes.py PROFILE   (AIIDA_PATH selects the configuration folder)
Keys are node UUIDs (equal in an archive and in the profile it came from); values are
``[type, stored sha256 attribute, sha256 of the repository file]``. ``loop_uuids`` and ``loop_pks`` map the
pks of the ActiveLearningWorkChain nodes to their UUIDs and back.
"""

from __future__ import annotations

import hashlib
import json
import sys

from aiida import load_profile, orm


def main(profile: str) -> None:
    load_profile(profile)
    from aiida_mlipgen.data.dataset import DatasetData
    from aiida_mlipgen.data.model import ModelData

    hashes = {}
    for data_type in (DatasetData, ModelData):
        for node in orm.QueryBuilder().append(data_type).all(flat=True):
            content = node.base.repository.get_object_content(node.FILENAME, mode='rb')
            hashes[node.uuid] = [data_type.__name__, node.sha256, hashlib.sha256(content).hexdigest()]
    loops = orm.QueryBuilder().append(orm.WorkflowNode, filters={'attributes.process_label': 'ActiveLearningWorkChain'})
    hashes['loop_uuids'] = {str(node.pk): node.uuid for node in loops.all(flat=True)}
    hashes['loop_pks'] = {uuid: int(pk) for pk, uuid in hashes['loop_uuids'].items()}
    print(json.dumps(hashes))


if __name__ == '__main__':
    main(sys.argv[1])
