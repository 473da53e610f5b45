#!/usr/bin/env bash
# A side environment with pypet 0.6.1, which needs numpy < 2, for benchmarks/compare.py:
#   bash benchmarks/make_pypet_env.sh [DIR]   (default .pypet-venv), then
#   python benchmarks/compare.py --pypet-python DIR/bin/python
set -euo pipefail
dir="${1:-.pypet-venv}"
python3 -m venv "$dir"
"$dir/bin/pip" install -q "pypet==0.6.1" "numpy<2" "pandas<2.2" "tables<3.10"
"$dir/bin/python" -c "import pypet, numpy; print('pypet', pypet.__version__, 'numpy', numpy.__version__)"
