#!/usr/bin/env bash
# Install what aiida-mlipgen needs, skipping what is there: Debian packages (pw.x, lmp, MPI,
# pseudopotentials, OpenBLAS, and SLURM + munge for the one-machine cluster of the tests), a virtual
# environment, the CPU build of torch, then the package.
# Usage: setup_profiles/install.sh [STEP...]   (from the repository root; `make install` calls it)
#   STEP: system-packages, venv, torch, package (default: all four, in this order)
# Environment: VENV (default .venv), PYTHON (default python3), WHEELS (default /opt/wheels),
#              TORCH_SPEC (default torch==2.13.0+cpu), TORCH_INDEX (default PyTorch's CPU index),
#              APT_PACKAGES (space-separated; default: the packages below).
set -euo pipefail

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
WHEELS=${WHEELS:-/opt/wheels}
TORCH_VERSION=2.13.0
TORCH_SPEC=${TORCH_SPEC:-torch==${TORCH_VERSION}+cpu}
TORCH_INDEX=${TORCH_INDEX:-https://download.pytorch.org/whl/cpu}
# slurmctld ... libpmix-dev: setup_profiles/slurm/local_slurm.sh, a SLURM of one machine for the tests.
# graphviz, chromium: the HTML report's provenance graph (dot) and its headless-browser test.
read -r -a APT_PACKAGES <<<"${APT_PACKAGES:-quantum-espresso quantum-espresso-data lammps openmpi-bin libopenblas0-pthread slurmctld slurmd slurm-client munge libpmix-dev graphviz chromium}"
STAMP="$VENV/.mlipgen-install-stamp"

say() { printf '%s\n' "$*"; }

install_system_packages() {
    if ! command -v dpkg >/dev/null 2>&1; then
        say "system packages: no dpkg (not Debian/Ubuntu): install ${APT_PACKAGES[*]} or their equivalents yourself"
        return
    fi
    local missing=() package
    for package in "${APT_PACKAGES[@]}"; do
        if dpkg -s "$package" >/dev/null 2>&1; then
            say "system package $package: already installed"
        else
            missing+=("$package")
        fi
    done
    [ ${#missing[@]} -eq 0 ] && return
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            say "system packages missing: ${missing[*]}"
            say "  not root and no password-less sudo, so skipping apt; ask an administrator to run:"
            say "  apt-get update && apt-get install -y ${missing[*]}"
            return
        fi
    fi
    say "system packages: installing ${missing[*]}"
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

create_venv() {
    if [ -x "$VENV/bin/python" ]; then
        say "virtual environment $VENV: already exists ($("$VENV/bin/python" --version 2>&1))"
        return
    fi
    say "virtual environment $VENV: creating with $PYTHON"
    if ! "$PYTHON" -m venv "$VENV"; then
        say "could not create $VENV with $PYTHON; on Debian/Ubuntu: apt-get install python3-venv" >&2
        exit 1
    fi
    # The pip bundled with older Pythons (23.x) trips over aiida-core's duplicated extras.
    "$VENV/bin/python" -m pip install -q --upgrade pip
}

install_torch() {
    local installed
    installed=$("$VENV/bin/python" -c 'import torch; print(torch.__version__)' 2>/dev/null || true)
    if [ "${installed%%+*}" = "$TORCH_VERSION" ]; then
        say "torch: already installed ($installed)"
        return
    fi
    say "torch: installing $TORCH_SPEC (CPU build) before everything that depends on it"
    if compgen -G "$WHEELS/torch-${TORCH_VERSION}*.whl" >/dev/null; then
        "$VENV/bin/pip" install -q --find-links "$WHEELS" "$TORCH_SPEC"
    else
        "$VENV/bin/pip" install -q --index-url "$TORCH_INDEX" --extra-index-url https://pypi.org/simple "$TORCH_SPEC"
    fi
}

pyproject_hash() {
    sha256sum pyproject.toml | cut -d' ' -f1
}

package_is_current() {
    [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(pyproject_hash)" ] || return 1
    # The editable install must point at this checkout (a moved or copied venv does not).
    [ "$("$VENV/bin/python" -c 'import aiida_mlipgen, pathlib; print(pathlib.Path(aiida_mlipgen.__file__).resolve().parents[1])' 2>/dev/null)" = "$(pwd -P)" ]
}

install_package() {
    if package_is_current; then
        say "aiida-mlipgen[dev]: already installed (pyproject.toml unchanged)"
        return
    fi
    say "aiida-mlipgen[dev]: installing in editable mode"
    local find_links=()
    [ -d "$WHEELS" ] && find_links=(--find-links "$WHEELS")
    "$VENV/bin/pip" install -q "${find_links[@]}" -e '.[dev]'
    pyproject_hash >"$STAMP"
}

[ $# -gt 0 ] || set -- system-packages venv torch package
for step in "$@"; do
    case "$step" in
        system-packages) install_system_packages ;;
        venv) create_venv ;;
        torch) install_torch ;;
        package) install_package ;;
        *) say "unknown step '$step' (system-packages, venv, torch, package)" >&2; exit 2 ;;
    esac
done
