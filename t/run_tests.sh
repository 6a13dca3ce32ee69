#!/usr/bin/env bash
# t/run_tests.sh -- runs the unit tests, then every integration test, and
# adds up the results.
#
#   t/run_tests.sh                          unit + all integration tests
#   t/run_tests.sh --integration-only       integration tests only
#   t/run_tests.sh [--integration-only] t/integration/10_http.sh ...
#                                           only the scripts named
#
# The unit tests (build/t/unit_tests, Check) count as Checks - Failures -
# Errors passed and Failures + Errors failed.  Each integration script ends
# with "N passed, N failed"; one that ends without it (crashed, killed after
# SCRIPT_TIMEOUT seconds) counts its "ok"/"not ok" lines plus one failure.
# The scripts' own summary lines are shown as "# NAME: ..." comments, so
# that the last line of the output is the only bare "N passed, N failed":
# the totals.  Exit status 0 iff nothing failed.
set -u

TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP" || exit 1
UNIT_BIN="${SP_BUILD:-$TOP/build}/t/unit_tests"
export T_RUN_ROOT=${T_RUN_ROOT:-${SP_BUILD:-$TOP/build}/t-run} # run dirs and logs
SCRIPT_TIMEOUT=${SCRIPT_TIMEOUT:-600}
SUMMARY_RE='^([0-9]+) passed, ([0-9]+) failed$'

unit=1
scripts=()
for arg in "$@"; do
    case "$arg" in
    --integration-only) unit=0 ;;
    -h | --help)
        sed -n '2,17p' "$0"
        exit 0
        ;;
    -*)
        echo "run_tests.sh: unknown option $arg" >&2
        exit 2
        ;;
    *) scripts+=("$arg") ;;
    esac
done
if [ ${#scripts[@]} -eq 0 ]; then
    scripts=(t/integration/*.sh)
fi

passed=0
failed=0
recap=()

now_ms() {
    local ns
    ns=$(date +%s%N)
    echo $((ns / 1000000))
}

seconds() {
    printf '%d.%d s' $(($1 / 1000)) $((($1 % 1000) / 100))
}

# add NAME PASSED FAILED MS [NOTE]
add() {
    passed=$((passed + $2))
    failed=$((failed + $3))
    recap+=("$(printf '# %-24s %4d passed, %3d failed  %8s%s' "$1" "$2" "$3" "$(seconds "$4")" "${5:+  ($5)}")")
    echo "${recap[-1]}"
}

run_unit() {
    local log="$T_RUN_ROOT/unit_tests.log" t0 rc p=0 f=0 n=0 line
    t0=$(now_ms)
    if [ ! -x "$UNIT_BIN" ]; then
        echo "not ok - unit tests: ${UNIT_BIN#"$TOP/"} is missing (make build/t/unit_tests)"
        add unit_tests 0 1 0 "not built"
        return
    fi
    mkdir -p "$T_RUN_ROOT"
    "$UNIT_BIN" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    # Check prints "NN%: Checks: N, Failures: F, Errors: E" per runner.
    while IFS= read -r line; do
        if [[ $line =~ Checks:\ ([0-9]+),\ Failures:\ ([0-9]+),\ Errors:\ ([0-9]+) ]]; then
            n=$((n + 1))
            f=$((f + BASH_REMATCH[2] + BASH_REMATCH[3]))
            p=$((p + BASH_REMATCH[1] - BASH_REMATCH[2] - BASH_REMATCH[3]))
        fi
    done <"$log"
    if [ "$n" -eq 0 ]; then
        echo "not ok - unit tests: no 'Checks: N, Failures: F, Errors: E' line (exit status $rc)"
        add unit_tests "$p" $((f + 1)) $(($(now_ms) - t0)) "no summary, exit $rc"
    elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "not ok - unit tests: exit status $rc although no check failed"
        add unit_tests "$p" 1 $(($(now_ms) - t0)) "exit $rc"
    else
        add unit_tests "$p" "$f" $(($(now_ms) - t0))
    fi
}

run_script() {
    local s=$1 name log t0 rc p f line summary=""
    name=$(basename "$s" .sh)
    log="$T_RUN_ROOT/$name.log"
    mkdir -p "$T_RUN_ROOT"
    echo "# --- $name"
    t0=$(now_ms)
    timeout -k 30 "$SCRIPT_TIMEOUT" bash "$s" </dev/null 2>&1 | tee "$log" |
        grep --line-buffered -Ev "$SUMMARY_RE"
    rc=${PIPESTATUS[0]}
    while IFS= read -r line; do
        [[ $line =~ $SUMMARY_RE ]] && summary=$line
    done <"$log"
    if [[ $summary =~ $SUMMARY_RE ]]; then
        p=${BASH_REMATCH[1]}
        f=${BASH_REMATCH[2]}
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
            echo "not ok - $name: exit status $rc although it reports no failure"
            f=1
        fi
        add "$name" "$p" "$f" $(($(now_ms) - t0))
    else
        p=$(grep -c '^ok - ' "$log")
        f=$(grep -c '^not ok - ' "$log")
        if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
            echo "not ok - $name: killed after $SCRIPT_TIMEOUT s, no summary line"
            add "$name" "$p" $((f + 1)) $(($(now_ms) - t0)) "timed out"
        else
            echo "not ok - $name: ended without a summary line (exit status $rc)"
            add "$name" "$p" $((f + 1)) $(($(now_ms) - t0)) "no summary, exit $rc"
        fi
    fi
}

# make test SANITIZE=1: every sanitizer report of any process (execd, the
# module inside Apache, the unit tests) lands in SAN_LOGS and fails the run.
SAN_LOGS="${SP_BUILD:-$TOP/build}/san-logs"
if [ "${SP_SANITIZE:-0}" = 1 ]; then
    rm -rf "$SAN_LOGS"
    mkdir -p "$SAN_LOGS"
    chmod 1777 "$SAN_LOGS"  # children that dropped root write here too
    export ASAN_OPTIONS="detect_leaks=0:log_path=$SAN_LOGS/asan"
    export UBSAN_OPTIONS="print_stacktrace=1:log_path=$SAN_LOGS/ubsan"
fi

t_start=$(now_ms)
[ "$unit" -eq 0 ] || run_unit
for s in "${scripts[@]}"; do
    if [ ! -f "$s" ]; then
        echo "not ok - $s: no such test script"
        add "$(basename "$s")" 0 1 0 "missing"
        continue
    fi
    run_script "$s"
done

if [ "${SP_SANITIZE:-0}" = 1 ]; then
    reports=$(find "$SAN_LOGS" -type f | wc -l)
    if [ "$reports" -gt 0 ]; then
        echo "not ok - sanitizers: $reports report(s) in ${SAN_LOGS#"$TOP/"}:"
        head -n 40 "$SAN_LOGS"/* | sed 's/^/#   /'
        add sanitizers 0 1 0 "$reports reports"
    else
        echo "ok - sanitizers: no AddressSanitizer or UBSan report"
        add sanitizers 1 0 0
    fi
fi

echo "# ==="
for line in "${recap[@]}"; do
    echo "$line"
done
echo "# total time $(seconds $(($(now_ms) - t_start)))"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
