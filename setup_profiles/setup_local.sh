#!/usr/bin/env bash
# Set up (or reuse) an AiiDA profile on this machine with everything aiida-mlipgen needs:
# localhost computer, pw@localhost and lmp@localhost, the pseudo family, a running daemon.
# Usage: setup_profiles/setup_local.sh [PROFILE] [mlipgen setup options, e.g. --no-daemon]
# Run `make install` (setup_profiles/install.sh) first. Idempotent: a second run changes nothing.
set -euo pipefail

VENV=${VENV:-.venv}
profile=${1:-mlipgen}
shift || true
# The daemon workers must find this environment's verdi and codes.
export PATH="$(cd "$VENV/bin" && pwd):$PATH"
exec mlipgen setup --profile "$profile" "$@"
