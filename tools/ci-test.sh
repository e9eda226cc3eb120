#!/usr/bin/env bash
# The test command of CI (.ci/run runs the README's test command, which runs this script):
# two legs, each in a virtual environment created here from scratch.
#
#   leg 1, Python 3.11 (.venv): the full stack, as before this script existed: torch (the CPU
#     build, installed first), allensdk, brian2 2.8, brian2cuda 1.0a7, brian2hears; ruff, ruff
#     format, lint-imports, then the whole default suite (-m 'not slow and not gpu'). torch and
#     allensdk must import there (NEUROLEARN_REQUIRE_EXTRAS): their tests never skip.
#   leg 2, Python 3.12 (.venv-py312): brian2 2.10 and numpy 2 (pyproject's environment
#     markers), without torch (a torch install there would download gigabytes) and without
#     allensdk (it does not install on 3.12): the suite minus the tests marked torch or
#     allensdk, selected explicitly with -m, so that every other test, data tests included,
#     runs (NEUROLEARN_REQUIRE_DATA=1 from .ci/run turns a data-test skip into a failure).
#
# Usage: tools/ci-test.sh [all|py311|py312]   (default all; both legs run, the exit status is
# that of the first failing leg). Interpreters are found by find_python below; override with
# PYTHON311=/path/to/python3.11, PYTHON312=/path/to/python3.12. Each leg prints its duration.
set -uo pipefail
cd "$(dirname "$0")/.."
export NEUROLEARN_DATA_DIR="${NEUROLEARN_DATA_DIR:-../shared/data}"
export MPLBACKEND="${MPLBACKEND:-Agg}"
export PIP_DISABLE_PIP_VERSION_CHECK=1

# find_python X.Y: print the path of a working Python X.Y, or fail naming what was tried.
# A `pythonX.Y` on PATH may be a pyenv shim that fails when X.Y is not pyenv's selected
# version, so every candidate is run and its version checked.
find_python() {
    local want=$1 var="PYTHON${1/./}" tried=() c
    local candidates=()
    if [ -n "${!var:-}" ]; then
        candidates=("${!var}")
    else
        candidates=("python$want")
        local root="${PYENV_ROOT:-$HOME/.pyenv}"
        local pyenv_found
        pyenv_found=$(ls -d "$root"/versions/"$want".*/bin/python"$want" 2>/dev/null | sort -V -r)
        # shellcheck disable=SC2206
        candidates+=($pyenv_found "/usr/local/bin/python$want" "/usr/bin/python$want")
        if [ "$want" = 3.11 ]; then candidates+=(python3); fi
    fi
    for c in "${candidates[@]}"; do
        tried+=("$c")
        local found
        if found=$("$c" -c "import sys
assert sys.version_info[:2] == tuple(map(int, '$want'.split('.')))
print(sys.executable)" 2>/dev/null) && [ -n "$found" ]; then
            echo "$found"
            return 0
        fi
    done
    if command -v py >/dev/null 2>&1 && py "-$want" -c "" >/dev/null 2>&1; then
        py "-$want" -c "import sys; print(sys.executable)"
        return 0
    fi
    echo "tools/ci-test.sh: no working Python $want (tried: ${tried[*]}${!var:+ from $var}" \
        "and py -$want); install it (e.g. pyenv install $want) or set $var=/path/to/python$want" >&2
    return 1
}

leg_py311() {
    local py
    py=$(find_python 3.11) || return 1
    echo "== leg 1: $py ($("$py" -V 2>&1)), full stack, full suite, documentation"
    rm -rf .venv
    "$py" -m venv .venv &&
        .venv/bin/pip install -q torch==2.13.0 &&
        .venv/bin/pip install -q -e ".[all,dev]" &&
        .venv/bin/pip install -q --no-deps norse==1.1.0 &&
        (. .venv/bin/activate && ruff check . && ruff format --check . && lint-imports) &&
        NEUROLEARN_REQUIRE_EXTRAS=torch,allensdk,nir,norse,snntorch .venv/bin/python -m pytest &&
        echo "== leg 1: documentation (sphinx -W, tutorials executed)" &&
        .venv/bin/python -m sphinx -W --keep-going -q -b html docs docs/_build/html
}

leg_py312() {
    local py
    py=$(find_python 3.12) || return 1
    echo "== leg 2: $py ($("$py" -V 2>&1)), brian2 2.10 + numpy 2, no torch, no allensdk"
    rm -rf .venv-py312
    "$py" -m venv .venv-py312 &&
        .venv-py312/bin/pip install -q -e ".[audio,dev]" &&
        .venv-py312/bin/python -c "
import importlib.util, sys, brian2, numpy
assert importlib.util.find_spec('torch') is None, 'torch is installed in the torch-free leg'
print('brian2', brian2.__version__, 'numpy', numpy.__version__, 'Python', sys.version.split()[0])
assert brian2.__version__.startswith('2.10') and int(numpy.__version__.split('.')[0]) >= 2
" &&
        .venv-py312/bin/python -m pytest -m "not slow and not gpu and not torch and not allensdk"
}

run_leg() {
    local start=$SECONDS rc
    "leg_$1"
    rc=$?
    echo "== leg $1: exit $rc after $(((SECONDS - start) / 60)) min $(((SECONDS - start) % 60)) s"
    return $rc
}

status=0
case "${1:-all}" in
    all)
        run_leg py311 || status=$?
        run_leg py312 || { rc=$?; [ "$status" -ne 0 ] || status=$rc; }
        ;;
    py311 | py312) run_leg "$1" || status=$? ;;
    *)
        echo "usage: tools/ci-test.sh [all|py311|py312]" >&2
        exit 2
        ;;
esac
exit "$status"
