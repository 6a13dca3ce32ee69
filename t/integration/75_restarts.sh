#!/usr/bin/env bash
# Restarts and reloads under load, with no failed request:
#  - `apache2 -k graceful` (event and prefork) while wrk (or curl loops)
#    hammer the module: no non-2xx answer, no socket error; a stream that
#    an old child serves across the graceful finishes intact; the module's
#    proxy child is replaced and the old one drains and exits;
#  - `apache2 -k graceful-stop`: the stream in flight finishes intact, then
#    Apache and its proxy child are gone;
#  - execd reloaded (SIGHUP) three times under GETs and 1 MiB POSTs (sha256
#    of each echo compared): no failure;
#  - execd stopped (SIGTERM) while a stream is in flight: the stream
#    finishes intact within DrainTimeout, a new request gets 503 meanwhile;
#  - MaxRequestsPerWorker 5 with Workers 2 under 150 requests: no failure,
#    the workers are recycled (new pids, EXD0021);
#  - execd reloaded with a Listen added, then one dropped, then one that
#    cannot be bound: served, stops accepting, reload refused.
# Load generators run across each event; all waits are bounded waits for
# an event (a log line, a first streamed line, N more requests done).
# shellcheck source=t/lib.sh
. "$(dirname "$0")/../lib.sh"
t_begin
need_built

WAIT=10               # bound for an event that should come at once
STREAM_LINES=30       # a 3-second stream (100 ms a line)
DRAIN_LINES=50        # a 5-second stream, shorter than DrainTimeout 10
WRK_SECONDS=4
N_RECYCLE=150
POST_SIZE=$((1024 * 1024))
WRK=${WRK-$(command -v wrk)}    # WRK= (empty): curl loops instead of wrk

EXECD_WORKERS=4 start_backend main || bail "execd main did not start"
main_addr=$BACKEND_ADDR main_pid=$EXECD_PID main_log=$EXECD_LOG
EXECD_WORKERS=2 EXECD_PREFIX=/rec start_backend rec "MaxRequestsPerWorker 5" ||
    bail "execd rec (Workers 2, MaxRequestsPerWorker 5) did not start"
rec_addr=$BACKEND_ADDR rec_pid=$EXECD_PID rec_log=$EXECD_LOG
EXECD_WORKERS=2 EXECD_PREFIX=/drain start_backend drain || bail "execd drain did not start"
drain_addr=$BACKEND_ADDR drain_pid=$EXECD_PID drain_log=$EXECD_LOG
EXECD_WORKERS=2 EXECD_PREFIX=/once start_backend once "MaxRequestsPerWorker 1" ||
    bail "execd once (Workers 2, MaxRequestsPerWorker 1) did not start"
once_addr=$BACKEND_ADDR

cat >"$RUN/site.conf" <<EOF
LoadModule slotproxy_module $MOD_SO
SlotProxySecretFile $RUN/secret
SlotProxyTimeout 30
SlotProxyBackend main $main_addr
SlotProxyBackend rec $rec_addr
SlotProxyBackend drain $drain_addr
SlotProxyBackend once $once_addr
SlotProxyPass /app/ main
SlotProxyPass /rec/ rec
SlotProxyPass /drain/ drain
SlotProxyPass /once/ once
EOF

random_file "$RUN/post.bin" "$POST_SIZE"
POST_SHA=$(sha_of "$RUN/post.bin")

# --- helpers ----------------------------------------------------------------

# bg_stream NAME URL: a background streamed GET into T_TMP/NAME.body; sets
# BG_PID (curl's pid).  stream_done NAME PID waits for it and checks it.
bg_stream() {
    rm -f "$T_TMP/$1".*
    curl -sS -N --max-time 40 -o "$T_TMP/$1.body" -w '%{http_code}' "$2" \
        >"$T_TMP/$1.code" 2>"$T_TMP/$1.err" &
    BG_PID=$!
    track_bg "$BG_PID"
}

# shellcheck disable=SC2317 # polled through wait_for
has_lines() {
    [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]
}

# stream_done NAME PID LINES CHECK_NAME: the stream ended with curl exit 0,
# status 200 and exactly "line 1" ... "line LINES".
stream_done() {
    local rc
    wait "$2"
    rc=$?
    if [ "$rc" -eq 0 ] && [ "$(cat "$T_TMP/$1.code")" = 200 ] &&
        awk -v n="$3" '$0 != "line " NR { bad = 1 } END { exit (bad || NR != n) }' "$T_TMP/$1.body"; then
        ok "$4"
    else
        fail "$4" "curl exit $rc, status $(cat "$T_TMP/$1.code"), $(wc -l <"$T_TMP/$1.body") lines, last '$(tail -n 1 "$T_TMP/$1.body")' $(head -c 150 "$T_TMP/$1.err")"
    fi
}

# load_loop OUT MODE URL STOPFILE: requests one after the other until
# STOPFILE exists; one line per request in OUT: "ok" or "FAIL ...".
#   get:  GET URL?id=N, the body must be "id=N"
#   post: POST of post.bin to URL, the body's sha256 must be POST_SHA
# shellcheck disable=SC2317 # runs in the background
load_loop() {
    local out=$1 mode=$2 url=$3 stop=$4 i=0 code rc
    while [ ! -e "$stop" ]; do
        i=$((i + 1))
        if [ "$mode" = get ]; then
            code=$(curl -sS --max-time 30 -H 'Connection: close' -o "$out.body" \
                -w '%{http_code}' "$url?id=$i" 2>>"$out.err")
            rc=$?
            if [ "$rc" -eq 0 ] && [ "$code" = 200 ] && [ "$(cat "$out.body")" = "id=$i" ]; then
                echo ok
            else
                echo "FAIL get $i: status $code, curl exit $rc, body '$(head -c 60 "$out.body")'"
            fi
        else
            code=$(curl -sS --max-time 30 -H 'Connection: close' \
                -H 'Content-Type: application/octet-stream' --data-binary "@$RUN/post.bin" \
                -o "$out.body" -w '%{http_code}' "$url" 2>>"$out.err")
            rc=$?
            if [ "$rc" -eq 0 ] && [ "$code" = 200 ] && [ "$(sha_of "$out.body")" = "$POST_SHA" ]; then
                echo ok
            else
                echo "FAIL post $i: status $code, curl exit $rc, $(stat -c %s "$out.body" 2>/dev/null) bytes"
            fi
        fi >>"$out"
    done
}

LOAD_PIDS=()
LOAD_OUTS=()
# load_start NAME SPEC...: starts one load_loop per SPEC "MODE:URL".
load_start() {
    local name=$1 spec k=0
    shift
    LOAD_STOP="$T_TMP/$name.stop"
    rm -f "$LOAD_STOP"
    LOAD_PIDS=()
    LOAD_OUTS=()
    for spec in "$@"; do
        k=$((k + 1))
        : >"$T_TMP/$name.$k"
        load_loop "$T_TMP/$name.$k" "${spec%%:*}" "${spec#*:}" "$LOAD_STOP" &
        track_bg "$!"
        LOAD_PIDS+=("$!")
        LOAD_OUTS+=("$T_TMP/$name.$k")
    done
}

# load_each_done N: every load loop has N results or more.
# shellcheck disable=SC2317 # polled through wait_for
load_each_done() {
    local f
    for f in "${LOAD_OUTS[@]}"; do
        [ "$(wc -l <"$f")" -ge "$1" ] || return 1
    done
}

# load_min: the fewest results of one loop so far.
load_min() {
    local f n min=""
    for f in "${LOAD_OUTS[@]}"; do
        n=$(wc -l <"$f")
        if [ -z "$min" ] || [ "$n" -lt "$min" ]; then min=$n; fi
    done
    echo "${min:-0}"
}

# load_stop CHECK_NAME: stops the loops and checks that none failed.
load_stop() {
    local total bad
    touch "$LOAD_STOP"
    wait "${LOAD_PIDS[@]}"
    total=$(cat "${LOAD_OUTS[@]}" | wc -l)
    bad=$(cat "${LOAD_OUTS[@]}" | grep -cv '^ok$')
    if [ "$total" -gt 0 ] && [ "$bad" -eq 0 ]; then
        ok "$1 ($total requests)"
    else
        fail "$1" "$bad of $total failed: $(cat "${LOAD_OUTS[@]}" | grep -v '^ok$' | head -n 3 | tr '\n' ';')"
    fi
}

# wrk_start URL: wrk for WRK_SECONDS (new connection per request), or, with
# no wrk, four curl GET loops.  wrk_stop CHECK_NAME checks the results.
wrk_start() {
    if [ -n "$WRK" ]; then
        "$WRK" -t 2 -c 8 -d "${WRK_SECONDS}s" --timeout 10s -H 'Connection: close' \
            "$1/app/hello" >"$T_TMP/wrk.out" 2>&1 &
        WRK_PID=$!
        track_bg "$WRK_PID"
    else
        load_start wrk "get:$1/app/echo" "get:$1/app/echo" "get:$1/app/echo" "get:$1/app/echo"
    fi
}

wrk_stop() {
    local n
    if [ -z "$WRK" ]; then
        # as long a run as wrk's: a few more requests each after the graceful
        wait_for 20 load_each_done $(($(load_min) + 5)) || echo "# the curl loops stalled"
        load_stop "$1"
        return
    fi
    wait "$WRK_PID"
    n=$(awk '/requests in/ { print $1 }' "$T_TMP/wrk.out")
    if [ -n "$n" ] && [ "$n" -gt 0 ] && ! grep -Eq 'Non-2xx|Socket errors' "$T_TMP/wrk.out"; then
        ok "$1 ($n requests)"
    else
        fail "$1" "wrk: $(grep -E 'requests in|Non-2xx|Socket errors' "$T_TMP/wrk.out" | tr '\n' ';')"
        sed 's/^/#   wrk| /' "$T_TMP/wrk.out"
    fi
}

# _log_has_n FILE EREGEX N: N lines of FILE match, or more.
# shellcheck disable=SC2317 # polled through wait_for
_log_has_n() {
    [ -f "$1" ] && [ "$(grep -Ec -- "$2" "$1")" -ge "$3" ]
}

# shellcheck disable=SC2317 # polled through wait_for
access_lines_at_least() {
    [ -f "$1" ] && [ "$(grep -c "$2" "$1")" -ge "$3" ]
}

# ===========================================================================
# Apache graceful and graceful-stop, under both MPMs
for mpm in event prefork; do
    T_CTX=$mpm
    port=$(free_port)
    if ! start_apache "$mpm" "$port" "$RUN/site.conf"; then
        fail "apache starts" "see above"
        continue
    fi
    u=$APACHE_URL apid=$APACHE_PID alog=$APACHE_LOG
    conf="$APACHE_DIR/httpd.conf"
    access="$APACHE_DIR/logs/access.log"
    http "$u/app/hello"
    expect_body "served before the graceful" $'hello, world\n'

    # --- graceful under load ---------------------------------------------
    px0=$(slotproxy_proxy_pid "$alog")
    bg_stream gs "$u/app/stream?lines=$STREAM_LINES&interval_ms=100"
    gs=$BG_PID
    wait_for "$WAIT" has_lines "$T_TMP/gs.body" 1 || echo "# no first stream line within $WAIT s"
    n0=$(grep -c 'GET /app/' "$access")
    wrk_start "$u"
    wait_for "$WAIT" access_lines_at_least "$access" 'GET /app/' $((n0 + 20)) ||
        echo "# the load did not get 20 requests through within $WAIT s"
    amark=$(log_mark "$alog")
    if "$APACHE_BIN" -f "$conf" -k graceful >"$T_TMP/graceful.out" 2>&1; then
        ok "apache2 -k graceful is accepted"
    else
        fail "apache2 -k graceful is accepted" "$(head -c 300 "$T_TMP/graceful.out")"
    fi
    if wait_for "$WAIT" _log_has "$alog" "$amark" 'SPX0204: proxy child pid'; then
        px1=$(slotproxy_proxy_pid "$alog")
        ok "the graceful starts a new proxy child (pid ${px1:-?}, was ${px0:-?})"
    else
        px1=""
        fail "the graceful starts a new proxy child" "no new SPX0204 line within $WAIT s"
    fi
    n1=$(grep -c 'GET /app/' "$access")
    wrk_stop "graceful under load: no failed request"
    if [ "$(grep -c 'GET /app/' "$access")" -gt "$n1" ]; then
        ok "the load went on after the graceful"
    else
        fail "the load went on after the graceful" "no request logged after the new proxy child started"
    fi
    stream_done gs "$gs" "$STREAM_LINES" "a stream running across the graceful finishes intact"
    if [ -n "$px0" ] && wait_for "$WAIT" pid_gone "$px0"; then
        ok "the old proxy child drains and exits"
    else
        fail "the old proxy child drains and exits" "pid ${px0:-?} still runs $WAIT s after its stream ended"
    fi
    check "Apache's master pid is unchanged" pid_running "$apid"
    http "$u/app/hello"
    expect_body "served after the graceful" $'hello, world\n'

    # --- graceful-stop with a stream in flight ------------------------------
    px1=$(slotproxy_proxy_pid "$alog")
    bg_stream gstop "$u/app/stream?lines=$STREAM_LINES&interval_ms=100"
    gstop=$BG_PID
    wait_for "$WAIT" has_lines "$T_TMP/gstop.body" 1 || echo "# no first stream line within $WAIT s"
    if "$APACHE_BIN" -f "$conf" -k graceful-stop >"$T_TMP/gstop.out" 2>&1; then
        ok "apache2 -k graceful-stop is accepted"
    else
        fail "apache2 -k graceful-stop is accepted" "$(head -c 300 "$T_TMP/gstop.out")"
    fi
    stream_done gstop "$gstop" "$STREAM_LINES" "graceful-stop: the stream in flight finishes intact"
    if wait_for 15 pid_gone "$apid"; then
        ok "graceful-stop: then Apache is gone"
    else
        fail "graceful-stop: then Apache is gone" "pid $apid still runs"
    fi
    if [ -n "$px1" ] && wait_for "$WAIT" pid_gone "$px1"; then
        ok "graceful-stop: and so is its proxy child"
    else
        fail "graceful-stop: and so is its proxy child" "pid ${px1:-?} still runs"
    fi
    stop_apache "$apid"
done
T_CTX=""

port=$(free_port)
start_apache event "$port" "$RUN/site.conf" || bail "apache (event) did not start"
u=$APACHE_URL

# ===========================================================================
# execd reloaded three times under load
T_CTX="execd reload"
load_start reload "get:$u/app/echo" "get:$u/app/echo" "post:$u/app/echo" "post:$u/app/echo"
wait_for "$WAIT" load_each_done 2 || echo "# the load loops are slow to start"
gens_ok=1
for k in 1 2 3; do
    emark=$(log_mark "$main_log")
    before=$(load_min)
    kill -HUP "$main_pid"
    if ! wait_for "$WAIT" _log_has "$main_log" "$emark" 'EXD0047: reloaded'; then
        gens_ok=0
        fail "reload $k is done (EXD0047)" "no such line within $WAIT s"
    fi
    # Each loop must get requests through the new generation before the next.
    if wait_for 20 load_each_done $((before + 3)); then
        ok "reload $k: every load loop gets 3 more requests through"
    else
        fail "reload $k: every load loop gets 3 more requests through" \
            "within 20 s only $(($(load_min) - before)) for the slowest loop"
    fi
done
[ "$gens_ok" -eq 0 ] || ok "three reloads done (EXD0047 x3)"
load_stop "GETs and 1 MiB POSTs (sha256 checked) across 3 reloads: none failed"
if wait_for 15 _log_has_n "$main_log" 'EXD0043: generation [0-9]+ retired' 3; then
    ok "the three old generations drain and retire (EXD0043)"
else
    fail "the three old generations drain and retire (EXD0043)" \
        "$(grep -c EXD0043 "$main_log") EXD0043 lines"
fi
check "the execd master pid is unchanged" pid_running "$main_pid"

# ===========================================================================
# execd graceful stop with a stream in flight
T_CTX="execd stop"
bg_stream ds "$u/drain/stream?lines=$DRAIN_LINES&interval_ms=100"
ds=$BG_PID
wait_for "$WAIT" has_lines "$T_TMP/ds.body" 1 || echo "# no first stream line within $WAIT s"
emark=$(log_mark "$drain_log")
t0=$(now_ms)
kill -TERM "$drain_pid"
wait_for "$WAIT" _log_has "$drain_log" "$emark" 'EXD0035: stopping' ||
    echo "# execd logged no EXD0035 within $WAIT s"
HTTP_MAX_TIME=20 http "$u/drain/hello"
in_flight=0
pid_running "$ds" && in_flight=1
expect_status "a new request while execd drains gets 503" 503
if [ "$in_flight" -eq 1 ]; then
    ok "the 503 comes while the draining stream is still in flight (${HTTP_TIME} s)"
else
    fail "the 503 comes while the draining stream is still in flight" \
        "it came after ${HTTP_TIME} s, once the stream had ended: new requests wait for the drain"
fi
stream_done ds "$ds" "$DRAIN_LINES" "the stream in flight finishes intact"
dt=$(($(now_ms) - t0))
if [ "$dt" -lt 12000 ]; then
    ok "... within DrainTimeout 10 (${dt} ms after SIGTERM)"
else
    fail "... within DrainTimeout 10" "${dt} ms after SIGTERM"
fi
if wait_for 15 pid_gone "$drain_pid"; then
    ok "then execd exits"
else
    fail "then execd exits" "pid $drain_pid still runs"
fi

# ===========================================================================
# MaxRequestsPerWorker 5, Workers 2, under load

# shellcheck disable=SC2317 # polled through wait_for
rec_workers_back() {
    [ "$(execd_worker_pids "$rec_pid" "$rec_log" | wc -l)" -eq 2 ]
}

T_CTX="recycling"
rec_before=" $(execd_worker_pids "$rec_pid" "$rec_log" | tr '\n' ' ') "
emark=$(log_mark "$rec_log")
out="$RUN/rec"
t0=$(now_ms)
parallel_echo "$u/rec" "$N_RECYCLE" "$out" 8 'max-time = 60' \
    'header = "Connection: close"'
echo "# $N_RECYCLE requests with MaxRequestsPerWorker 5 took $(($(now_ms) - t0)) ms"
if [ "$PE_N200" -eq "$N_RECYCLE" ] && [ -z "$PE_WRONG" ]; then
    ok "$N_RECYCLE requests all served with their own reply"
else
    fail "$N_RECYCLE requests all served with their own reply" \
        "$PE_N200 got 200; wrong:$(cut -c1-100 <<<"$PE_WRONG"); $(awk '$1 != 200' "$out/codes" | head -n 3 | tr '\n' ' ')"
fi
retired=$(tail -n "+$((emark + 1))" "$rec_log" | grep -c 'EXD0021: worker slot [0-9]* pid [0-9]* retires after 5 requests')
if [ "$retired" -ge $((N_RECYCLE / 5 - 2)) ]; then
    ok "workers retire after 5 requests ($retired EXD0021 lines)"
else
    fail "workers retire after 5 requests" "$retired EXD0021 lines for $N_RECYCLE requests"
fi
# A worker that lived less than a second is replaced a second later.
wait_for "$WAIT" rec_workers_back ||
    echo "# execd rec has $(execd_worker_pids "$rec_pid" "$rec_log" | wc -l) workers"
still=""
for w in $(execd_worker_pids "$rec_pid" "$rec_log"); do
    case "$rec_before" in *" $w "*) still="$still $w" ;; esac
done
if [ -z "$still" ] && [ "$(execd_worker_pids "$rec_pid" "$rec_log" | wc -l)" -ge 1 ]; then
    ok "the worker pids changed (was$rec_before, now $(execd_worker_pids "$rec_pid" "$rec_log" | tr '\n' ' '))"
else
    fail "the worker pids changed" "still running:$still"
fi

# ===========================================================================
# A worker that retires after its request (MaxRequestsPerWorker 1) while
# the end of its 2 MiB reply still waits for credit: the reply must arrive
# whole (it once was cut: the retirement was handled as a death mid-reply).

T_CTX="retiring"
N_ONCE=24
ONCE_BYTES=$((2 * 1024 * 1024))
"$T_TOOLS/genpat" "$ONCE_BYTES" >"$RUN/once.expected"
ONCE_SHA=$(sha_of "$RUN/once.expected")
out="$RUN/once"
mkdir -p "$out"
for ((i = 1; i <= N_ONCE; i++)); do
    [ "$i" -eq 1 ] || echo next
    printf 'silent\nmax-time = 60\nheader = "Connection: close"\n'
    printf 'url = "%s/once/gen?bytes=%d&n=%d"\noutput = "%s/gen.%d"\n' \
        "$u" "$ONCE_BYTES" "$i" "$out" "$i"
    printf 'write-out = "%%{http_code} %%{exitcode} %d\\n"\n' "$i"
done >"$out/curl.cfg"
curl --parallel --parallel-max 4 -K "$out/curl.cfg" >"$out/codes" 2>/dev/null
bad=""
for ((i = 1; i <= N_ONCE; i++)); do
    [ "$(sha_of "$out/gen.$i" 2>/dev/null)" = "$ONCE_SHA" ] || bad="$bad $i"
done
if [ -z "$bad" ] && [ "$(awk '$1 == 200 && $2 == 0' "$out/codes" | wc -l)" -eq "$N_ONCE" ]; then
    ok "$N_ONCE replies of 2 MiB from workers that retire after each arrive whole"
else
    fail "$N_ONCE replies of 2 MiB from workers that retire after each arrive whole" \
        "cut or wrong:$bad; $(awk '$1 != 200 || $2 != 0' "$out/codes" | head -n 3 | tr '\n' ' ')"
fi

# ===========================================================================
# execd reload with Listen changes: an address added is served by the new
# generation, a kept one keeps its socket, a dropped one stops accepting,
# and an address that cannot be bound refuses the reload.
T_CTX="Listen reload"
EXECD_WORKERS=2 EXECD_PREFIX=/mv start_backend mv \
    "Service /mv2/hello module:$HANDLERS/hello.so hello_handler" ||
    bail "execd mv did not start"
mv_pid=$EXECD_PID mv_log=$EXECD_LOG mv_conf="$EXECD_DIR/execd.conf"
p1=$BACKEND_PORT
p2=$(free_port)
cat >"$RUN/site-mv.conf" <<EOS
LoadModule slotproxy_module $MOD_SO
SlotProxySecretFile $RUN/secret
SlotProxyBackend mv1 tcp://127.0.0.1:$p1
SlotProxyBackend mv2 tcp://127.0.0.1:$p2
SlotProxyPass /mv/ mv1
SlotProxyPass /mv2/ mv2
EOS
mv_port=$(free_port)
start_apache event "$mv_port" "$RUN/site-mv.conf" || bail "apache (mv) did not start"
mv_apache=$APACHE_PID mv_u=$APACHE_URL

# shellcheck disable=SC2317 # polled through wait_for
answers_200() {
    http "$1"
    [ "$HTTP_CODE" = 200 ]
}
# shellcheck disable=SC2317 # polled through wait_for
not_listening() {
    ! port_listening "$1"
}

check "before: 127.0.0.1:$p1 serves" answers_200 "$mv_u/mv/hello"
check_not "before: nothing listens on 127.0.0.1:$p2" port_listening "$p2"

emark=$(log_mark "$mv_log")
echo "Listen 127.0.0.1:$p2" >>"$mv_conf"
kill -HUP "$mv_pid"
check "a reload that adds a Listen is done (EXD0047)" \
    wait_for "$WAIT" _log_has "$mv_log" "$emark" 'EXD0047: reloaded'
check "it names the new address (EXD0050)" \
    _log_has "$mv_log" "$emark" "EXD0050: .*127\.0\.0\.1:$p2"
check "the new address accepts" port_listening "$p2"
check "a front end pointed at it gets through once the link is up" \
    wait_for 15 answers_200 "$mv_u/mv2/hello"
check "the kept address still serves" answers_200 "$mv_u/mv/hello"

emark=$(log_mark "$mv_log")
sed -i "/^Listen 127\.0\.0\.1:$p1\$/d" "$mv_conf"
kill -HUP "$mv_pid"
check "a reload that drops a Listen is done (EXD0047)" \
    wait_for "$WAIT" _log_has "$mv_log" "$emark" 'EXD0047: reloaded'
check "it names the dropped address (EXD0051)" \
    _log_has "$mv_log" "$emark" "EXD0051: .*127\.0\.0\.1:$p1"
check "the dropped address stops accepting" wait_for "$WAIT" not_listening "$p1"
check "the other address still serves" answers_200 "$mv_u/mv2/hello"

emark=$(log_mark "$mv_log")
echo "Listen 127.0.0.1:$mv_port" >>"$mv_conf"   # Apache's own port
kill -HUP "$mv_pid"
check "a Listen on an address in use refuses the reload (EXD0045 names it)" \
    wait_for "$WAIT" _log_has "$mv_log" "$emark" \
    "EXD0045: reload refused.*127\.0\.0\.1:$mv_port"
check_not "no new generation starts" _log_has "$mv_log" "$emark" 'EXD0047'
check "the running configuration goes on serving" answers_200 "$mv_u/mv2/hello"
check "and keeps its address" port_listening "$p2"
check "the execd master pid is unchanged" pid_running "$mv_pid"
stop_apache "$mv_apache"

done_testing
