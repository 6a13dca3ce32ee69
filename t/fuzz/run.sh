#!/usr/bin/env bash
# t/fuzz/run.sh -- build the libFuzzer targets and run each for a bounded
# time over a copy of the seed corpus (`make fuzz`).
#
#   t/fuzz/run.sh             build, then run every target FUZZ_SECONDS
#   t/fuzz/run.sh --build     build only
#   t/fuzz/run.sh --seeds     rebuild make_seeds and rewrite t/fuzz/corpus
#
# Environment: FUZZ_SECONDS (default 60) per target; FUZZ_CC (clang);
# FUZZ_FLAGS, extra libFuzzer options.  The targets run side by side, one
# per core.  Everything goes to build/fuzz/: the binaries, the working
# corpus (seeded from t/fuzz/corpus and kept between runs; the repo's
# corpus is never written during a run), one log per target, and
# crashes/<target>-crash-* (or leak-, timeout-, oom-) for any finding.
# Exit status: 0 when no target found anything, 1 otherwise.  To replay a
# finding: build/fuzz/fuzz_<target> build/fuzz/crashes/<file> (the inputs
# are deterministic: fuzz_handshake fixes the nonces, see fuzz_common.h).
#
# Needs clang with its libFuzzer runtime; as root, a missing clang or
# runtime is installed from Debian (clang, libclang-rt-<major>-dev).
set -euo pipefail

cd "$(dirname "$0")/../.."

B=build/fuzz
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_CC=${FUZZ_CC:-clang}
APR_CONFIG=${APR_CONFIG:-apr-1-config}
PKG_CONFIG=${PKG_CONFIG:-pkg-config}
TARGETS=(frame handshake)

SAN=("-fsanitize=fuzzer,address,undefined" -fno-sanitize-recover=all
     -fno-omit-frame-pointer)
WARN=(-Wall -Wextra -Wshadow -Wno-unused-parameter)


say() { printf 'fuzz: %s\n' "$*"; }
die() { printf 'fuzz: %s\n' "$*" >&2; exit 1; }

apt_install() {
    if [ "$(id -u)" -ne 0 ]; then
        die "missing: $* (install it: apt-get install $*)"
    fi
    say "installing $* from Debian"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "$@" >/dev/null
}

# Can clang build and link a fuzz target here?
probe_fuzzer() {
    printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
        'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)' \
        '{ (void)d; (void)n; return 0; }' >"$B/probe.c"
    "$FUZZ_CC" "${SAN[@]}" -o "$B/probe" "$B/probe.c" >"$B/probe.log" 2>&1
}

check_toolchain() {
    local major
    mkdir -p "$B"
    if ! command -v "$FUZZ_CC" >/dev/null 2>&1; then
        [ "$FUZZ_CC" = clang ] || die "missing: $FUZZ_CC"
        apt_install clang
    fi
    if ! probe_fuzzer; then
        major=$("$FUZZ_CC" -dumpversion | cut -d. -f1)
        say "$FUZZ_CC cannot link -fsanitize=fuzzer (libFuzzer runtime" \
            "missing?): $(head -n 3 "$B/probe.log")"
        apt_install "libclang-rt-$major-dev"
        probe_fuzzer || die "still cannot link a fuzz target: $(cat "$B/probe.log")"
    fi
    command -v "$APR_CONFIG" >/dev/null 2>&1 \
        || die "missing: $APR_CONFIG (libapr1-dev; run: make deps)"
    "$PKG_CONFIG" --exists libcrypto \
        || die "missing: libcrypto for $PKG_CONFIG (libssl-dev; run: make deps)"
}

read_flags() {
    read -r -a APR_CFLAGS <<<"$("$APR_CONFIG" --cflags --cppflags --includes)"
    read -r -a APR_LIBS <<<"$("$APR_CONFIG" --link-ld --libs)"
    local ssl=libcrypto
    if "$PKG_CONFIG" --exists libssl; then
        ssl="libssl libcrypto"
    fi
    # shellcheck disable=SC2086 # two package names, split on purpose
    read -r -a SSL_CFLAGS <<<"$("$PKG_CONFIG" --cflags $ssl)"
    # shellcheck disable=SC2086
    read -r -a SSL_LIBS <<<"$("$PKG_CONFIG" --libs $ssl)"
}

# The common/ sources a target is built from: compiled in, not taken
# from libspcommon.a, so that coverage and the sanitizers reach them.
build_target() {
    local t=$1 srcs=(common/sp_frame.c common/sp_head.c common/sp_space.c common/sp_errors.c)
    if [ "$t" = handshake ]; then
        srcs+=(common/sp_auth.c common/sp_link.c)
        # sp_link can run over TLS (never started here, but linked).
        if [ -f common/sp_tls.c ]; then
            srcs+=(common/sp_tls.c)
        fi
    fi
    say "building $B/fuzz_$t"
    "$FUZZ_CC" -std=gnu11 -g -O1 "${SAN[@]}" "${WARN[@]}" \
        "${APR_CFLAGS[@]}" "${SSL_CFLAGS[@]}" -Icommon -It/fuzz \
        -o "$B/fuzz_$t" "t/fuzz/fuzz_$t.c" "${srcs[@]}" \
        "${APR_LIBS[@]}" "${SSL_LIBS[@]}"
}

make_seeds() {
    say "writing t/fuzz/corpus with $B/make_seeds"
    "$FUZZ_CC" -std=gnu11 -g -O1 -fsanitize=address,undefined \
        "${WARN[@]}" "${APR_CFLAGS[@]}" "${SSL_CFLAGS[@]}" -Icommon -It/fuzz \
        -o "$B/make_seeds" t/fuzz/make_seeds.c common/sp_frame.c \
        common/sp_head.c common/sp_auth.c common/sp_errors.c \
        "${APR_LIBS[@]}" "${SSL_LIBS[@]}"
    "$B/make_seeds" t/fuzz/corpus
}

# The last status line, libFuzzer's final stats and any report.
summarize() {
    local t=$1 rc=$2
    local log="$B/fuzz_$t.log"
    say "--- fuzz_$t: exit $rc, log $log"
    grep -E '^#[0-9]+' "$log" | tail -n 1 || true
    grep -E '^(Done [0-9]+ runs|stat::)' "$log" || true
    if [ "$rc" -ne 0 ]; then
        grep -n -E -A 40 'ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)|runtime error|fuzz invariant failed' \
            "$log" | head -n 80 || true
        ls -1 "$B/crashes/fuzz_$t-"* 2>/dev/null || true
    fi
}

run_all() {
    local t extra=() pids=() failed=0 i rc
    read -r -a extra <<<"${FUZZ_FLAGS:-}"
    mkdir -p "$B/crashes"
    for t in "${TARGETS[@]}"; do
        mkdir -p "$B/corpus/$t"
        cp -f "t/fuzz/corpus/$t/"* "$B/corpus/$t/"
        say "running fuzz_$t for ${FUZZ_SECONDS}s over $B/corpus/$t"
        "$B/fuzz_$t" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 \
            -timeout=10 -artifact_prefix="$B/crashes/fuzz_$t-" \
            "${extra[@]}" "$B/corpus/$t" >"$B/fuzz_$t.log" 2>&1 &
        pids+=("$!")
    done
    for i in "${!TARGETS[@]}"; do
        rc=0
        wait "${pids[$i]}" || rc=$?
        summarize "${TARGETS[$i]}" "$rc"
        [ "$rc" -eq 0 ] || failed=1
    done
    if [ "$failed" -ne 0 ]; then
        die "a target found a crash, leak or failed invariant (see above)"
    fi
    say "no crash in ${FUZZ_SECONDS}s per target"
}

case "${1:-}" in
    ""|--build|--seeds) ;;
    *) die "usage: $0 [--build|--seeds]" ;;
esac
check_toolchain
read_flags
if [ "${1:-}" = --seeds ]; then
    make_seeds
    exit 0
fi
for t in "${TARGETS[@]}"; do
    build_target "$t"
done
[ "${1:-}" = --build ] && exit 0
run_all
