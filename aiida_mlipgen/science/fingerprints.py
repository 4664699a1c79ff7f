"""Fingerprints of labelling settings: labels are comparable only when their fingerprints are equal."""

from __future__ import annotations

import hashlib
import json


def with_fingerprint(settings: dict) -> dict:
    """``settings`` plus ``sha256``, the SHA-256 of their canonical JSON (keys sorted).

    Two label sources with equal fingerprints computed the same physics; the datasets, the loop and the
    labelling stages refuse to mix labels whose fingerprints differ.
    """
    settings = {key: value for key, value in settings.items() if key != 'sha256'}
    return {**settings, 'sha256': hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()}
