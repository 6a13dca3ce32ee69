#!/usr/bin/env bash
# t/bench/run.sh -- the benchmark behind `make bench`.
#
# Measures, on loopback and in one run, the same three requests against
# variants that serve identical bytes:
#
#   limit       the reply made inside Apache (build/bench/mod_bench_limit.so):
#               the upper bound for any gateway
#   slotproxy   Apache + mod_slotproxy -> execd -> C handler modules
#               (build/handlers/{hello,gen,echo}.so)
#   fcgi        Apache + mod_proxy_fcgi (connection reuse) -> a libfcgi app
#               (build/bench/fcgi_app) with as many processes as execd has
#               workers
#   http        Apache + mod_proxy_http (keepalive pool) -> a second Apache
#               serving the reply with mod_bench_limit
#
# slotproxy once more with larger slots (BENCH_BIG_SLOT), and limit and
# slotproxy once more under the prefork MPM.  Requests:
#
#   hello   GET /hello, 13 bytes              wrk, 32 keepalive connections
#   gen     GET /gen?bytes=1048576 (1 MiB)    8 connections
#   echo    POST /echo, 64 KiB body echoed    16 connections (t/bench/echo.lua)
#
# Each cell (request x variant) runs BENCH_ROUNDS rounds of BENCH_DURATION
# seconds, each after a BENCH_WARMUP-second warm-up run; rounds are
# interleaved (round 1: every variant for a request, then round 2 ...) so
# that drift of the machine hits all variants alike.  In the middle of
# every measured run the connections the web tier holds open to its backend
# are counted from /proc/net/tcp (backend port) or /proc/net/unix (execd's
# socket path).  Before that, build/bench/handoff measures the slot handoff
# alone beside a process-shared sem_t and a UNIX socket ping-pong.
#
# Output: one markdown table (also saved to build/bench/results.md), the
# micro-benchmark table, and the error log lines of any variant whose
# requests failed.  Run files stay in build/bench/run/ for a post-mortem.
#
# Environment (defaults in brackets):
#   BENCH_DURATION [8]   seconds per measured run
#   BENCH_WARMUP   [2]   seconds of warm-up before each measured run
#   BENCH_ROUNDS   [2]   measured runs per cell
#   BENCH_WORKERS  [4]   execd Workers = FastCGI processes
#   BENCH_LINK     [unix] mod_slotproxy -> execd over "unix" or "tcp"
#   BENCH_SLOT     [128k] slot space size on both sides (SlotSize,
#                         SlotProxySlotSize) of the slotproxy variants
#                         (128k is the default of both directives)
#   BENCH_EXECD_SLOT [each variant's] execd's SlotSize alone, in every slotproxy variant
#                         (execd has a slot per worker, so large ones are
#                         cheap there)
#   BENCH_BIG_SLOT [1m]   slot size of one more event variant,
#                         "slotproxy-big", to show what the slot size buys
#                         for large bodies (0 leaves it out)
#   BENCH_PREFORK  [1]   0 skips the prefork variants
#   BENCH_HANDOFF  [200000] round trips per micro-benchmark case (0 skips)
#   BENCH_BUDGET   [570] seconds the whole run may take; duration, then
#                        rounds, are scaled down to fit (and it says so)
#
# t/bench/run.sh --serve starts the variants and keeps them up (printing
# their URLs and pids) until interrupted, for profiling by hand.
#
# Servers listen on free ports of 127.0.0.1 only, are recorded by pid and
# stopped by pid at exit (TERM, then KILL after 10 s); nothing is ever
# stopped by name.
set -u

TOP=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=SCRIPTDIR/../lib.sh
. "$TOP/t/lib.sh" # free_port, wait_for, record_pid, stop_pid, start_execd ...

BENCH="$B/bench"
RUN="$BENCH/run"
RESULTS="$BENCH/results.md"
LIMIT_SO="$BENCH/mod_bench_limit.so"
FCGI_APP="$BENCH/fcgi_app"
HANDOFF="$BENCH/handoff"
ECHO_LUA="$TOP/t/bench/echo.lua"

DURATION=${BENCH_DURATION:-8}
WARMUP=${BENCH_WARMUP:-2}
ROUNDS=${BENCH_ROUNDS:-2}
WORKERS=${BENCH_WORKERS:-4}
LINK=${BENCH_LINK:-unix}
SLOT=${BENCH_SLOT:-128k}
BIG_SLOT=${BENCH_BIG_SLOT:-1m}
PREFORK=${BENCH_PREFORK:-1}
HANDOFF_RT=${BENCH_HANDOFF:-200000}
BUDGET=${BENCH_BUDGET:-570}
WRK_THREADS=2
GEN_BYTES=1048576
ECHO_BYTES=65536

REQS=(hello gen echo)
declare -A REQ_PATH=([hello]=/hello [gen]="/gen?bytes=$GEN_BYTES" [echo]=/echo)
declare -A REQ_CONNS=([hello]=32 [gen]=8 [echo]=16)
declare -A REQ_LABEL=([hello]="hello 13 B" [gen]="GET 1 MiB" [echo]="POST 64 KiB echo")

VARIANTS=() # in run order: limit slotproxy [slotproxy-big] fcgi http [limit-pf slotproxy-pf]
declare -A V_LABEL=([limit]="limit" [slotproxy]="slotproxy" [fcgi]="fcgi"
    [http]="http" [slotproxy-big]="slotproxy ${BENCH_BIG_SLOT:-1m} slots"
    [limit-pf]="limit (prefork)" [slotproxy-pf]="slotproxy (prefork)")
declare -A V_URL=()     # http://127.0.0.1:PORT
declare -A V_CONNS=()   # "tcp:PORT" or "unix:/path": what the web tier connects to
declare -A V_LOGS=()    # error logs to show when the variant fails
declare -A V_OK=()      # 1 if it served the right bytes before the runs
declare -A RES=()       # "req|variant|round" -> "rps mibs p50 p99 non2xx sockerr conns"
declare -A LOG_MARKS=() # error log -> line count at the start of the runs
EXECD_ADDR=""
NOTES=()
BG_PIDS=()
T0=$SECONDS

say() { echo "bench: $*" >&2; }
die() {
    say "$*"
    exit 1
}

# ---------------------------------------------------------------------------
# Processes: everything started here is in lib.sh's T_PIDS.

cleanup() {
    local rc=$? i e pid rest
    trap - EXIT INT TERM HUP
    for pid in "${BG_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    for ((i = ${#T_PIDS[@]} - 1; i >= 0; i--)); do
        e=${T_PIDS[i]}
        pid=${e%%:*}
        rest=${e#*:}
        pid_running "$pid" "${rest%%:*}" && stop_pid "$pid" "${rest#*:}" >&2
    done
    exit "$rc"
}

# ---------------------------------------------------------------------------
# Set-up

install_missing() {
    local pkgs=()
    command -v wrk >/dev/null || pkgs+=(wrk)
    [ -f /usr/include/fcgiapp.h ] || pkgs+=(libfcgi-dev)
    command -v curl >/dev/null || pkgs+=(curl)
    [ ${#pkgs[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || die "missing ${pkgs[*]}: install them (apt-get install ${pkgs[*]})"
    say "installing ${pkgs[*]}"
    apt-get install -y -q "${pkgs[@]}" >/dev/null ||
        { apt-get update -q >/dev/null && apt-get install -y -q "${pkgs[@]}" >/dev/null; } ||
        die "apt-get install ${pkgs[*]} failed"
}

build_tools() {
    make -s -C "$TOP" bench-build build/t/freeport build/t/genpat >&2 ||
        die "cannot build the benchmark programs"
    [ -x "$APACHE_BIN" ] || die "$APACHE_BIN not found"
    local m
    for m in mpm_event mpm_prefork authz_core proxy proxy_fcgi proxy_http; do
        [ -f "$APACHE_MODDIR/mod_$m.so" ] || die "$APACHE_MODDIR/mod_$m.so not found"
    done
}

make_dirs() {
    rm -rf -- "$RUN"
    mkdir -p "$RUN/tmp" || die "cannot make $RUN"
    chmod 755 "$B" "$BENCH" "$RUN" # Apache's children (www-data) go through
    write_secret "$RUN/secret" || die "cannot write $RUN/secret"
    printf 'hello, world\n' >"$RUN/tmp/hello.expect"
    "$T_TOOLS/genpat" "$GEN_BYTES" >"$RUN/tmp/gen.expect" || die "genpat failed"
    "$T_TOOLS/genpat" "$ECHO_BYTES" >"$RUN/tmp/echo.body" || die "genpat failed"
}

# Scales duration, then rounds, then warm-up down until the runs fit in
# what is left of the budget.
fit_budget() {
    local cells=$((${#VARIANTS[@]} * ${#REQS[@]})) left est
    left=$((BUDGET - (SECONDS - T0) - 20)) # 20 s: stopping, reporting
    est=$((cells * ROUNDS * (WARMUP + DURATION + 1)))
    while [ "$est" -gt "$left" ]; do
        if [ "$DURATION" -gt 4 ]; then
            DURATION=$((DURATION - 1))
        elif [ "$ROUNDS" -gt 1 ]; then
            ROUNDS=$((ROUNDS - 1))
        elif [ "$WARMUP" -gt 1 ]; then
            WARMUP=$((WARMUP - 1))
        elif [ "$DURATION" -gt 1 ]; then
            DURATION=$((DURATION - 1))
        else
            break
        fi
        est=$((cells * ROUNDS * (WARMUP + DURATION + 1)))
    done
    if [ "$DURATION" != "${BENCH_DURATION:-8}" ] || [ "$ROUNDS" != "${BENCH_ROUNDS:-2}" ] ||
        [ "$WARMUP" != "${BENCH_WARMUP:-2}" ]; then
        NOTES+=("SCALED DOWN to fit ${BUDGET} s: $ROUNDS round(s) of $DURATION s after ${WARMUP} s warm-up (asked: ${BENCH_ROUNDS:-2} x ${BENCH_DURATION:-8} s after ${BENCH_WARMUP:-2} s)")
    fi
    say "runs: $cells cells x $ROUNDS rounds x (${WARMUP} s + ${DURATION} s): about ${est} s"
}

# ---------------------------------------------------------------------------
# Configurations

# httpd_conf DIR MPM PORT: the common part of an Apache configuration.
httpd_conf() {
    local dir=$1 mpm=$2 port=$3
    cat <<EOF
# Written by t/bench/run.sh; nothing under /etc/apache2 is read.
ServerRoot "$dir"
ServerName 127.0.0.1
Listen 127.0.0.1:$port
PidFile "$dir/httpd.pid"
DefaultRuntimeDir "$dir"
Mutex file:$dir default
ErrorLog "$dir/logs/error.log"
LogLevel warn
DocumentRoot "$dir"
User $RUN_USER
Group $RUN_GROUP
<IfModule !unixd_module>
    LoadModule unixd_module $APACHE_MODDIR/mod_unixd.so
</IfModule>
LoadModule authz_core_module $APACHE_MODDIR/mod_authz_core.so
KeepAlive On
KeepAliveTimeout 30
MaxKeepAliveRequests 0
Timeout 60
MaxConnectionsPerChild 0
<Location />
    Require all granted
</Location>
EOF
    if [ "$mpm" = event ]; then
        cat <<EOF
LoadModule mpm_event_module $APACHE_MODDIR/mod_mpm_event.so
ServerLimit 1
StartServers 1
ThreadLimit 64
ThreadsPerChild 64
MaxRequestWorkers 64
MinSpareThreads 1
MaxSpareThreads 64
EOF
    else
        cat <<EOF
LoadModule mpm_prefork_module $APACHE_MODDIR/mod_mpm_prefork.so
StartServers 40
ServerLimit 40
MaxRequestWorkers 40
MinSpareServers 40
MaxSpareServers 41
EOF
    fi
}

limit_site() {
    cat <<EOF
LoadModule bench_limit_module $LIMIT_SO
<Location />
    SetHandler bench-limit
</Location>
EOF
}

# start_httpd NAME MPM PORT SITE: Apache in $RUN/NAME, SITE appended to
# the configuration.  Waits for its pid and its port.
start_httpd() {
    local name=$1 mpm=$2 port=$3 site=$4 dir="$RUN/$1" pid
    mkdir -p "$dir/logs" && chmod 755 "$dir" "$dir/logs" || return 1
    { httpd_conf "$dir" "$mpm" "$port" && printf '%s\n' "$site"; } >"$dir/httpd.conf"
    if ! "$APACHE_BIN" -f "$dir/httpd.conf" -k start >"$dir/start.out" 2>&1; then
        say "apache2 $name did not start:"
        cat "$dir/start.out" "$dir/logs/error.log" >&2 2>/dev/null
        return 1
    fi
    wait_for "$START_TIMEOUT" _read_pidfile "$dir/httpd.pid" >/dev/null ||
        { say "apache2 $name: no pid in $dir/httpd.pid"; return 1; }
    pid=$(_read_pidfile "$dir/httpd.pid")
    record_pid "$pid" "apache2 $name"
    wait_for "$START_TIMEOUT" port_open "$port" ||
        { say "apache2 $name: port $port does not answer"; return 1; }
}

# start_execd_for NAME SLOT_SIZE: an execd in $RUN/NAME serving the three handlers.
# Sets EXECD_ADDR (for SlotProxyBackend) and the variant's V_CONNS.
start_execd_for() {
    local name=$1 slot=$2 dir="$RUN/$1" listen port user_lines=""
    mkdir -p "$dir/logs" && chmod 755 "$dir" "$dir/logs" || return 1
    if [ "$LINK" = tcp ]; then
        port=$(free_port) || return 1
        listen="127.0.0.1:$port"
        EXECD_ADDR="tcp://$listen"
        V_CONNS[$name]="tcp:$port"
    else
        listen="unix:$dir/execd.sock"
        EXECD_ADDR=$listen
        V_CONNS[$name]="unix:$dir/execd.sock"
    fi
    [ "$(id -u)" -ne 0 ] || user_lines="User $RUN_USER
Group $RUN_GROUP"
    cat >"$dir/execd.conf" <<EOF
# Written by t/bench/run.sh.
Listen $listen
Workers $WORKERS
QueueSize 1024
Timeout 60
SlotSize ${BENCH_EXECD_SLOT:-$slot}
$user_lines
SecretFile $RUN/secret
PidFile $dir/execd.pid
ErrorLog $dir/logs/error.log
LogLevel warn
Service /hello module:$HANDLERS/hello.so hello_handler
Service /gen   module:$HANDLERS/gen.so   gen_handler
Service /echo  module:$HANDLERS/echo.so  echo_handler
EOF
    start_execd "$dir/execd.conf" >&2 || return 1
    V_LOGS[$name]="$dir/logs/error.log"
}

# start_slotproxy NAME MPM SLOT_SIZE
start_slotproxy() {
    local name=$1 mpm=$2 slot=$3 port
    start_execd_for "$name" "$slot" || return 1
    port=$(free_port) || return 1
    start_httpd "$name" "$mpm" "$port" "LoadModule slotproxy_module $MOD_SO
SlotProxySecretFile $RUN/secret
SlotProxySlotSize $slot
SlotProxyBackend app $EXECD_ADDR
SlotProxyPass / app" || return 1
    V_URL[$name]="http://127.0.0.1:$port"
    V_LOGS[$name]="$RUN/$name/logs/error.log ${V_LOGS[$name]}"
}

start_limit() {
    local name=$1 mpm=$2 port
    port=$(free_port) || return 1
    start_httpd "$name" "$mpm" "$port" "$(limit_site)" || return 1
    V_URL[$name]="http://127.0.0.1:$port"
    V_LOGS[$name]="$RUN/$name/logs/error.log"
}

# fcgi: the app binds and listens itself, then forks WORKERS children.
# max=WORKERS caps mod_proxy_fcgi's pool: libfcgi keeps a reused connection
# for its process, so a pooled connection beyond WORKERS would wait in the
# listen backlog for a process that never comes.
start_fcgi() {
    local dir="$RUN/fcgi-app" aport port pid
    mkdir -p "$dir" && chmod 755 "$dir" || return 1
    aport=$(free_port) || return 1
    "$FCGI_APP" "$aport" "$WORKERS" "$dir/fcgi.pid" >"$dir/fcgi.log" 2>&1 &
    wait_for "$START_TIMEOUT" _read_pidfile "$dir/fcgi.pid" >/dev/null ||
        { say "fcgi_app did not start:"; cat "$dir/fcgi.log" >&2; return 1; }
    pid=$(_read_pidfile "$dir/fcgi.pid")
    record_pid "$pid" "fcgi_app"
    wait_for "$START_TIMEOUT" port_open "$aport" || return 1
    port=$(free_port) || return 1
    start_httpd fcgi event "$port" "LoadModule proxy_module $APACHE_MODDIR/mod_proxy.so
LoadModule proxy_fcgi_module $APACHE_MODDIR/mod_proxy_fcgi.so
ProxyPass / fcgi://127.0.0.1:$aport/ enablereuse=on max=$WORKERS" || return 1
    V_URL[fcgi]="http://127.0.0.1:$port"
    V_CONNS[fcgi]="tcp:$aport"
    V_LOGS[fcgi]="$RUN/fcgi/logs/error.log $dir/fcgi.log"
}

start_http() {
    local bport port
    bport=$(free_port) || return 1
    start_httpd http-origin event "$bport" "$(limit_site)" || return 1
    port=$(free_port) || return 1
    start_httpd http event "$port" "LoadModule proxy_module $APACHE_MODDIR/mod_proxy.so
LoadModule proxy_http_module $APACHE_MODDIR/mod_proxy_http.so
ProxyPass / http://127.0.0.1:$bport/ keepalive=On" || return 1
    V_URL[http]="http://127.0.0.1:$port"
    V_CONNS[http]="tcp:$bport"
    V_LOGS[http]="$RUN/http/logs/error.log $RUN/http-origin/logs/error.log"
}

start_all() {
    VARIANTS=(limit slotproxy)
    [ "$BIG_SLOT" = 0 ] || VARIANTS+=(slotproxy-big)
    VARIANTS+=(fcgi http)
    [ "$PREFORK" = 0 ] || VARIANTS+=(limit-pf slotproxy-pf)
    start_limit limit event || die "limit did not start"
    start_slotproxy slotproxy event "$SLOT" || die "slotproxy did not start"
    if [ "$BIG_SLOT" != 0 ]; then
        start_slotproxy slotproxy-big event "$BIG_SLOT" ||
            die "slotproxy ($BIG_SLOT slots) did not start"
    fi
    start_fcgi || die "fcgi did not start"
    start_http || die "http did not start"
    if [ "$PREFORK" != 0 ]; then
        start_limit limit-pf prefork || die "limit (prefork) did not start"
        start_slotproxy slotproxy-pf prefork "$SLOT" || die "slotproxy (prefork) did not start"
    fi
}

# ---------------------------------------------------------------------------
# Checks and measurements

show_logs() {
    local v=$1 log mark
    for log in ${V_LOGS[$v]}; do
        [ -s "$log" ] || continue
        mark=${LOG_MARKS[$log]:-0}
        echo "    --- ${log#"$TOP/"} (lines after the start of the runs, last 15):"
        tail -n "+$((mark + 1))" "$log" | tail -n 15 | cut -c1-300 | sed 's/^/    | /'
    done
}

# check_bytes VARIANT: each endpoint serves exactly the expected bytes.
check_bytes() {
    local v=$1 url=${V_URL[$1]} out="$RUN/tmp/check.out" why=""
    rm -f "$out"
    curl -sS --max-time 20 -o "$out" "$url/hello"
    cmp -s "$out" "$RUN/tmp/hello.expect" || why="$why /hello"
    rm -f "$out"
    curl -sS --max-time 20 -o "$out" "$url${REQ_PATH[gen]}"
    cmp -s "$out" "$RUN/tmp/gen.expect" || why="$why /gen"
    rm -f "$out"
    curl -sS --max-time 20 -o "$out" -H 'Content-Type: application/octet-stream' \
        --data-binary "@$RUN/tmp/echo.body" "$url/echo"
    cmp -s "$out" "$RUN/tmp/echo.body" || why="$why /echo"
    if [ -n "$why" ]; then
        V_OK[$v]=0
        NOTES+=("${V_LABEL[$v]}: wrong bytes from$why before the runs: not measured")
        say "${V_LABEL[$v]}: wrong bytes from$why"
        show_logs "$v" >&2
    else
        V_OK[$v]=1
    fi
}

# count_conns SPEC: established connections to "tcp:PORT" or to the
# UNIX socket "unix:/path" (server side: accepted sockets carry the path).
count_conns() {
    local spec=$1
    case "$spec" in
    tcp:*)
        awk -v p="$(printf '%04X' "${spec#tcp:}")" \
            'NR > 1 { split($2, a, ":"); if (a[2] == p && $4 == "01") n++ } END { print n + 0 }' \
            /proc/net/tcp
        ;;
    unix:*)
        awk -v p="${spec#unix:}" 'NR > 1 && $8 == p && $6 == "03" { n++ } END { print n + 0 }' \
            /proc/net/unix
        ;;
    *) echo "-" ;;
    esac
}

# parse_wrk FILE: "rps mibs p50_ms p99_ms non2xx socket_errors".
parse_wrk() {
    awk '
    function ms(v) {
        if (v ~ /us$/) return v / 1000
        if (v ~ /ms$/) return v + 0
        if (v ~ /m$/) return v * 60000
        if (v ~ /s$/) return v * 1000
        return v + 0
    }
    function mib(v) {
        if (v ~ /GB$/) return v * 1024
        if (v ~ /MB$/) return v + 0
        if (v ~ /KB$/) return v / 1024
        return v / 1048576
    }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    /^Requests\/sec:/ { rps = $2 }
    /^Transfer\/sec:/ { tr = mib($2) }
    /Non-2xx or 3xx responses:/ { bad = $NF }
    /Socket errors:/ { gsub(/,/, ""); err = $4 + $6 + $8 + $10 }
    END {
        if (rps == "") { print "0 0 0 0 0 1"; exit }
        printf "%.2f %.3f %.3f %.3f %d %d\n", rps, tr, p50, p99, bad, err
    }' "$1"
}

# wrk_run REQ URL SECONDS OUT [--latency]
wrk_run() {
    local req=$1 url=$2 secs=$3 out=$4
    shift 4
    local args=(-t"$WRK_THREADS" -c"${REQ_CONNS[$req]}" -d"${secs}s" --timeout 10s "$@")
    [ "$req" != echo ] || args+=(-s "$ECHO_LUA")
    timeout -k 5 $((secs + 30)) wrk "${args[@]}" "$url${REQ_PATH[$req]}" >"$out" 2>&1
}

# cell REQ VARIANT ROUND: a warm-up run, then a measured one with the
# backend connections sampled halfway.
cell() {
    local req=$1 v=$2 r=$3 url=${V_URL[$2]} out="$RUN/tmp/wrk-$1-$2-$3.txt"
    local conns_file="$RUN/tmp/conns-$1-$2-$3" sampler res conns="-"
    wrk_run "$req" "$url" "$WARMUP" "$RUN/tmp/warmup.txt"
    if [ -n "${V_CONNS[$v]:-}" ]; then
        (sleep "$(awk -v d="$DURATION" 'BEGIN { print d / 2 }')" &&
            count_conns "${V_CONNS[$v]}" >"$conns_file") &
        sampler=$!
        BG_PIDS+=("$sampler")
    fi
    wrk_run "$req" "$url" "$DURATION" "$out" --latency
    if [ -n "${V_CONNS[$v]:-}" ]; then
        wait "$sampler"
        BG_PIDS=()
        read -r conns <"$conns_file" || conns="?"
    fi
    res=$(parse_wrk "$out")
    RES["$req|$v|$r"]="$res $conns"
    say "$(printf '%-6s %-20s round %d: %s' "$req" "${V_LABEL[$v]}" "$r" "$res conns=$conns")"
}

run_cells() {
    local req r v log
    for v in "${VARIANTS[@]}"; do
        for log in ${V_LOGS[$v]}; do
            LOG_MARKS[$log]=$(log_mark "$log")
        done
    done
    for req in "${REQS[@]}"; do
        for ((r = 1; r <= ROUNDS; r++)); do
            for v in "${VARIANTS[@]}"; do
                [ "${V_OK[$v]}" = 1 ] && cell "$req" "$v" "$r"
            done
        done
    done
}

# ---------------------------------------------------------------------------
# Report

# cell_stat REQ VARIANT FIELD: mean over the rounds of field 1..4; "sum" of
# fields 5 and 6 (errors); "conns" lists the distinct counts; "spread" is
# (max - min) / mean of req/s in percent.
cell_stat() {
    local req=$1 v=$2 what=$3 r vals=""
    for ((r = 1; r <= ROUNDS; r++)); do
        vals="$vals${RES["$req|$v|$r"]:-}
"
    done
    awk -v what="$what" '
    NF >= 7 {
        n++; rps[n] = $1; for (i = 1; i <= 4; i++) s[i] += $i
        bad += $5 + $6; if (!($7 in seen)) { seen[$7] = 1; c = c (c == "" ? "" : "/") $7 }
    }
    END {
        if (n == 0) { print "-"; exit }
        if (what == "errors") { print bad; exit }
        if (what == "conns") { print c; exit }
        if (what == "spread") {
            lo = hi = rps[1]; for (i = 2; i <= n; i++) { if (rps[i] < lo) lo = rps[i]; if (rps[i] > hi) hi = rps[i] }
            printf "%.0f\n", (s[1] > 0) ? 100 * (hi - lo) / (s[1] / n) : 0; exit
        }
        printf "%.3f\n", s[what] / n
    }' <<<"$vals"
}

ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f\n", a / b }'
}

fmt() {
    awk -v x="$1" -v f="$2" 'BEGIN { if (x == "-") print "-"; else printf f "\n", x }'
}

# table: one row per request x variant.
table() {
    local req v base rps mibs p50 p99 spread errs conns vs_limit vs_fcgi vs_http flag
    printf '| %-16s | %-19s | %8s | %4s | %7s | %7s | %7s | %6s | %7s | %7s | %5s |\n' \
        request variant "req/s" "±%" "MiB/s" "p50 ms" "p99 ms" "/limit" "sp/fcgi" "sp/http" conns
    printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' ------------------ --------------------- \
        ---------: -----: --------: --------: --------: -------: --------: --------: ------:
    for req in "${REQS[@]}"; do
        for v in "${VARIANTS[@]}"; do
            if [ "${V_OK[$v]}" != 1 ]; then
                printf '| %-16s | %-19s | %8s | %4s | %7s | %7s | %7s | %6s | %7s | %7s | %5s |\n' \
                    "${REQ_LABEL[$req]}" "${V_LABEL[$v]}" FAILED - - - - - - - -
                continue
            fi
            base=limit
            [[ $v != *-pf ]] || base=limit-pf
            rps=$(cell_stat "$req" "$v" 1)
            mibs=$(cell_stat "$req" "$v" 2)
            p50=$(cell_stat "$req" "$v" 3)
            p99=$(cell_stat "$req" "$v" 4)
            spread=$(cell_stat "$req" "$v" spread)
            errs=$(cell_stat "$req" "$v" errors)
            conns=$(cell_stat "$req" "$v" conns)
            vs_limit=$(ratio "$rps" "$(cell_stat "$req" "$base" 1)")
            vs_fcgi="" vs_http=""
            if [ "$v" = slotproxy ]; then
                vs_fcgi=$(ratio "$rps" "$(cell_stat "$req" fcgi 1)")
                vs_http=$(ratio "$rps" "$(cell_stat "$req" http 1)")
            fi
            flag=""
            [ "$errs" = 0 ] || [ "$errs" = - ] || flag=" !!"
            printf '| %-16s | %-19s | %8s | %4s | %7s | %7s | %7s | %6s | %7s | %7s | %5s |\n' \
                "${REQ_LABEL[$req]}" "${V_LABEL[$v]}$flag" "$(fmt "$rps" %.0f)" "$spread" \
                "$(fmt "$mibs" %.1f)" "$(fmt "$p50" %.2f)" "$(fmt "$p99" %.2f)" \
                "$vs_limit" "$vs_fcgi" "$vs_http" "$conns"
        done
    done
}

# targets: the ratios the project aims at, met or not.
targets() {
    local req want rps lim f h
    for req in "${REQS[@]}"; do
        rps=$(cell_stat "$req" slotproxy 1)
        lim=$(ratio "$rps" "$(cell_stat "$req" limit 1)")
        f=$(ratio "$rps" "$(cell_stat "$req" fcgi 1)")
        h=$(ratio "$rps" "$(cell_stat "$req" http 1)")
        case $req in
        hello) want="0.75 1.3" ;;
        gen) want="0.6 4" ;;
        echo) want="0.6 2.5" ;;
        esac
        awk -v r="${REQ_LABEL[$req]}" -v l="$lim" -v f="$f" -v h="$h" -v w="$want" 'BEGIN {
            split(w, t, " ")
            printf "- %s: slotproxy/limit %s (target >= %s: %s), slotproxy/fcgi %s (target >= %s: %s), slotproxy/http %s\n",
                r, l, t[1], (l != "-" && l + 0 >= t[1] + 0) ? "met" : "NOT met",
                f, t[2], (f != "-" && f + 0 >= t[2] + 0) ? "met" : "NOT met", h }'
    done
}

errors_section() {
    local req v errs any=0 r f
    for v in "${VARIANTS[@]}"; do
        [ "${V_OK[$v]}" = 1 ] || continue
        errs=0
        for req in "${REQS[@]}"; do
            errs=$((errs + $(cell_stat "$req" "$v" errors)))
        done
        [ "$errs" -gt 0 ] || continue
        any=1
        echo "!! ${V_LABEL[$v]}: $errs failed requests (non-2xx or socket errors) in the measured runs:"
        for req in "${REQS[@]}"; do
            for ((r = 1; r <= ROUNDS; r++)); do
                f="$RUN/tmp/wrk-$req-$v-$r.txt"
                [ -f "$f" ] || continue
                grep -E 'Non-2xx|Socket errors' "$f" | sed "s/^/    $req round $r: /"
            done
        done
        show_logs "$v"
    done
    [ "$any" = 1 ] || echo "No failed requests (no non-2xx replies, no socket errors)."
}

report() {
    local rev elapsed=$((SECONDS - T0)) apache_v
    rev=$(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo "?")
    git -C "$TOP" diff --quiet HEAD -- common execd mod_slotproxy 2>/dev/null ||
        rev="$rev + uncommitted changes in common/ execd/ mod_slotproxy/"
    apache_v=$("$APACHE_BIN" -v 2>/dev/null | sed -n 's/^Server version: //p')
    {
        echo "## make bench -- $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, tree $rev"
        echo
        echo "$apache_v; event MPM 1 process x 64 threads (prefork: 40 processes);" \
            "execd Workers $WORKERS over a ${LINK^^} link; fcgi $WORKERS processes;" \
            "wrk -t$WRK_THREADS, $ROUNDS round(s) of $DURATION s after ${WARMUP} s warm-up," \
            "variants interleaved. req/s, MiB/s (read by wrk, headers included), p50/p99:" \
            "means over the rounds; ±% = spread of req/s between rounds; /limit = req/s" \
            "over limit of the same MPM; sp/fcgi, sp/http = slotproxy's req/s over theirs;" \
            "conns = connections the web tier held open to its backend, sampled mid-run" \
            "(one value per distinct count over the rounds)."
        echo
        table
        echo
        targets
        local n
        for n in "${NOTES[@]}"; do
            echo "- NOTE: $n"
        done
        echo
        errors_section
        if [ -s "$RUN/handoff.txt" ]; then
            echo
            echo "### Slot handoff micro-benchmark (build/bench/handoff $HANDOFF_RT)"
            echo
            cat "$RUN/handoff.txt"
        fi
        echo
        echo "Total time: ${elapsed} s (budget ${BUDGET} s)."
    } | tee "$RESULTS"
}

run_handoff() {
    [ "$HANDOFF_RT" != 0 ] || return 0
    say "handoff micro-benchmark: $HANDOFF_RT round trips per case"
    if ! timeout -k 5 180 "$HANDOFF" "$HANDOFF_RT" >"$RUN/handoff.out" 2>"$RUN/handoff.err"; then
        NOTES+=("handoff micro-benchmark failed: $(head -c 300 "$RUN/handoff.err" | tr '\n' ' ')")
    fi
    cp "$RUN/handoff.out" "$RUN/handoff.txt"
    # The project's target: the handoff within 1.5x the raw semaphore.
    awk -F'|' '$2 ~ /slot, busy proxy|slot, sleeping proxy/ {
        gsub(/ /, "", $6); gsub(/ /, "", $7); name = $2; gsub(/^ +| +$/, "", name)
        printf "\n- %s: %s the sem_t round trip in the mean, %s at p50 (target <= 1.50x: %s)",
            name, $6, $7, ($6 + 0 <= 1.5 && $6 != "-") ? "met" : "NOT met" }
        END { print "" }' "$RUN/handoff.out" >>"$RUN/handoff.txt"
}

# ---------------------------------------------------------------------------

# serve: starts every variant and keeps them up for profiling by hand
# (perf record -p PID, wrk against a URL) until interrupted; then stops
# them by pid like a measured run.
serve() {
    local v
    start_all
    for v in "${VARIANTS[@]}"; do
        echo "$v ${V_URL[$v]}"
    done
    echo "pids: ${T_PIDS[*]}"
    echo "serving until interrupted (Ctrl-C, or kill -TERM $$)"
    while :; do
        sleep 1
    done
}

main() {
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
    install_missing
    build_tools
    make_dirs
    if [ "${1:-}" = --serve ]; then
        serve
    fi
    run_handoff
    start_all
    local v
    for v in "${VARIANTS[@]}"; do
        check_bytes "$v"
    done
    fit_budget
    run_cells
    report
}

main "$@"
