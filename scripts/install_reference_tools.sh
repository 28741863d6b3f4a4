#!/usr/bin/env bash
# Install the reference implementations the validation tests compare against (not runtime dependencies):
# natcap.invest 3.20 (InVEST Habitat Quality and Urban Cooling), built from source against the system GDAL.
# Usage: scripts/install_reference_tools.sh [VENV]   (default .venv). Needs root for apt-get.
set -euo pipefail
VENV=${1:-.venv}
PY="$VENV/bin/python"
if "$PY" -c "import natcap.invest" 2>/dev/null; then echo "natcap.invest already installed"; exit 0; fi
if ! command -v gdal-config >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libgdal-dev gdal-bin >/dev/null
fi
export PATH="$(cd "$VENV/bin" && pwd):$PATH"   # pybabel must be on PATH for natcap.invest's build
"$PY" -m pip install --quiet -U 'setuptools>=77' 'cython<3.2' wheel setuptools_scm babel
"$PY" -m pip install --quiet --no-build-isolation --no-cache-dir "GDAL==$(gdal-config --version)"
"$PY" -m pip install --quiet --no-build-isolation pygeoprocessing taskgraph
"$PY" -m pip install --quiet --no-build-isolation 'natcap.invest==3.20.*'
"$PY" -c "import natcap.invest; print('natcap.invest', natcap.invest.__version__)"
