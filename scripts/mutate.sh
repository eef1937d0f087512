#!/usr/bin/env bash
# Mutation testing of one module with the tests that cover it (cosmic-ray, from the `mutation` extra):
#
#   scripts/mutate.sh MODULE            # MODULE: one of the names below; `scripts/mutate.sh` lists them
#
# Each mutant is one small change to the module (an operator, a comparison, a constant, a break...); the module's
# tests run against it and should fail. Survivors are printed at the end: kill each with a test or, when the change
# cannot alter behaviour, write it down as equivalent in docs/testing.md. The module is changed on disk while a
# mutant runs and restored afterwards, so the module must have no uncommitted changes. Not in CI.
#
# Minutes, not hours: each mutant runs only the fast tests that exercise its module (TESTS below, cheapest first,
# no GIMP/Blender/daemon tests), stops at the first failure (-x) and in file order; mutants that cannot matter
# (annotations, logging text) are skipped before the run (scripts/mutation_filter.py), and so are the redundant
# binary-operator replacements (cosmic-ray makes 11 per operator; one counterpart each is kept, as mutmut does:
# + -, - +, * /, / *, // /, % /, ** *, << >>, >> <<, | &, & |, ^ &), unary minus made `not` or `+` (kept:
# dropped, made `~`), and comparisons beyond a sufficient set (< made <= or !=, == made != <= >=, ...).
# MUTATION_ALL=1 runs every operator cosmic-ray has.
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A MODULE TESTS
MODULE[replay]=shared/styleswap_protocol/replay.py;      TESTS[replay]="tests/protocol/test_protocol_replay.py"
MODULE[signing]=shared/styleswap_protocol/signing.py;    TESTS[signing]="tests/protocol/test_protocol_codec.py"
MODULE[codec]=shared/styleswap_protocol/codec.py;        TESTS[codec]="tests/protocol/test_protocol_codec.py tests/protocol/test_protocol_pixels.py"
MODULE[fair_queue]=backend/styleswap/daemon/fair_queue.py; TESTS[fair_queue]="tests/daemon/test_daemon_fair_queue.py"
MODULE[color]=backend/styleswap/engine/color.py;                TESTS[color]="tests/engine/test_color.py"
MODULE[swap]=backend/styleswap/engine/swap.py;                  TESTS[swap]="tests/engine/test_swap.py tests/engine/test_approx_match.py"  # Int8Rows, Clusters: approx_match
MODULE[approx_match]=backend/styleswap/engine/approx_match.py;  TESTS[approx_match]="tests/engine/test_approx_match.py"
MODULE[optimize]=backend/styleswap/engine/optimize.py;          TESTS[optimize]="tests/engine/test_optimize.py tests/engine/test_optim_grain.py tests/engine/test_stylize_effects.py"
MODULE[images]=backend/styleswap/engine/images.py;              TESTS[images]="tests/engine/test_images.py"

name=${1:-}
if [[ -z $name || -z ${MODULE[$name]:-} ]]; then
    echo "usage: $0 MODULE   (one of: ${!MODULE[*]})" >&2
    exit 2
fi
module=${MODULE[$name]}
if ! git diff --quiet HEAD -- "$module"; then
    echo "$module has uncommitted changes: commit or stash them first (mutants are written over it)" >&2
    exit 2
fi

python=${PYTHON:-.venv/bin/python}
work=${MUTATION_DIR:-.mutation}/$name
mkdir -p "$work"
# one thread per test run: on a shared two-core machine torch's thread pool made the many small GEMMs of the
# engine's tests several times slower; no bytecode written: a mutant's .pyc must not outlive it within a second
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONDONTWRITEBYTECODE=1
# the tests of each mutant run in a fork of a process that has imported torch once (scripts/mutation_pytest.py)
socket=$(mktemp -u /tmp/styleswap-mutation-XXXXXX.sock)
timeout=${MUTATION_TIMEOUT:-120}
"$python" scripts/mutation_pytest.py serve "$socket" "$timeout" &
server=$!
for _ in $(seq 600); do [[ -S $socket ]] && break; sleep 0.1; done  # its imports take seconds
trap 'kill $server 2>/dev/null; rm -f "$socket"; git checkout -- "$module"' EXIT  # an interrupted run leaves no mutant behind

# operators left out: every binary replacement but one counterpart per operator, two of unary minus's four, and
keep='Add_Sub|Sub_Add|Mul_Div|Div_Mul|FloorDiv_Div|Mod_Div|Pow_Mul|LShift_RShift|RShift_LShift|BitOr_BitAnd|BitAnd_BitOr|BitXor_BitAnd'
# comparisons: the sufficient set of relational replacements (Kaminski et al., ICSE 2013) that cosmic-ray can make,
# and == / != swapped; not the other five of each, nor `is` for a value comparison
compare='Eq_(NotEq|LtE|GtE)|NotEq_(Eq|Lt|Gt)|Lt_(LtE|NotEq)|Gt_(GtE|NotEq)|LtE_(Lt|Eq)|GtE_(Gt|Eq)|Is_IsNot|IsNot_Is'
excluded="'core/ReplaceBinaryOperator_(?!($keep)\$)', 'core/ReplaceUnaryOperator_USub_(Not|UAdd)\$', 'core/ReplaceComparisonOperator_(?!($compare)\$)'"
[[ ${MUTATION_ALL:-} == 1 ]] && excluded=""

# -x: the first failure kills the mutant; no random order, no cache: each mutant runs the same tests the same way
cat >"$work/config.toml" <<TOML
[cosmic-ray]
module-path = "$module"
timeout = $timeout
excluded-modules = []
test-command = "$python scripts/mutation_pytest.py run $socket -x -q -p no:randomly -p no:cacheprovider ${TESTS[$name]}"

[cosmic-ray.distributor]
name = "local"

[cosmic-ray.filters.operators-filter]
exclude-operators = [$excluded]
TOML

if [[ ${MUTATION_RESUME:-} == 1 && -f $work/session.sqlite ]]; then
    echo "resuming $work/session.sqlite: only its pending mutants run"
else
    rm -f "$work/session.sqlite"
    "$python" -m cosmic_ray.cli init "$work/config.toml" "$work/session.sqlite"
fi
# the filters mark pending mutants only: on a resumed session they apply to what is left
"$(dirname "$python")/cr-filter-operators" "$work/session.sqlite" "$work/config.toml"
"$python" scripts/mutation_filter.py "$work/session.sqlite" "$module"
"$python" -m cosmic_ray.cli baseline "$work/config.toml"
"$python" -m cosmic_ray.cli exec "$work/config.toml" "$work/session.sqlite"
"$(dirname "$python")/cr-report" --show-pending "$work/session.sqlite" >"$work/report.txt"
"$python" scripts/mutation_survivors.py "$work/session.sqlite" | tee "$work/survivors.txt"
