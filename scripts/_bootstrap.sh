#!/usr/bin/env bash
# Shared bootstrap of scripts/run and scripts/test: find a Python >= 3.10, create (once) the project's
# own virtual environment outside the repository, then hand over to scripts/devtool.py inside it.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

pick_python() {
    if [ -n "${IYS_PYTHON:-}" ]; then echo "$IYS_PYTHON"; return; fi
    for candidate in python3.11 python3.12 python3.10 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(0 if (3, 10) <= sys.version_info[:2] < (3, 13) else 1)' 2>/dev/null; then
            echo "$candidate"; return
        fi
    done
    echo "ERROR: Odoo 18.0 needs Python 3.10, 3.11 or 3.12; none was found (set IYS_PYTHON)." >&2
    exit 2
}

PYTHON="$(pick_python)"
PYVER="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
VENV="${IYS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/l10n_tr_iys/venv-py$PYVER}"
if [ ! -x "$VENV/bin/python" ]; then
    echo "Creating the virtual environment $VENV"
    mkdir -p "$(dirname "$VENV")"
    "$PYTHON" -m venv "$VENV"
fi
export IYS_VENV="$VENV"
exec "$VENV/bin/python" "$REPO/scripts/devtool.py" "$@"
