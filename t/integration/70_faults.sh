#!/usr/bin/env bash
# Faults against the real processes, each of them killed or starved on
# purpose while requests are in flight (event MPM; prefork for the Apache
# child that is killed):
#  - kill -9 of the execd worker running a request: that request gets 502,
#    two streams running on the other workers of the same execd complete
#    intact, the worker is replaced (a new pid), the next request is served;
#  - a request that comes while the proxy child is stopped and then killed
#    is sent once by the next proxy child (takeover), and served;
#  - kill -9 of the module's proxy child: requests in flight fail cleanly
#    (502 or a visibly cut stream, never a hang), a new proxy child starts
#    within seconds and serves new requests, Apache is not restarted;
#  - kill -9 of the (prefork) Apache child serving a slow request: execd
#    abandons the handler (CANCEL, EXD1106) and Apache reclaims the slot
#    (SP0106); later requests are served;
#  - execd stopped: a fast 503 (not a timeout); started again: served;
#  - a browser going away mid-download and mid-upload: the handler sees
#    CANCEL and the only worker (Workers 1) serves the next request;
#  - a slow reader and a slow uploader on the link while 100 fast requests
#    complete (per-stream credit), the proxy child's memory not growing;
#    three stalled downloads cost the proxy child next to no memory;
#  - SlotProxyTimeout 2 -> 504 within 10 s; execd Timeout 2 -> 504, the
#    hung worker killed (SP0118) and replaced.
# No check is on speed; every wait is a bounded wait for an event.
# shellcheck source=t/lib.sh
. "$(dirname "$0")/../lib.sh"
t_begin
need_built

WAIT=10          # seconds: bound for an event that should come at once
SLOW_BYTES=$((32 * 1024 * 1024))  # slow download: far more than socket buffers
UP_BYTES=$((64 * 1024 * 1024))    # pushed before a mid-upload client dies
N_FAST=100
RSS_GROWTH_MAX_KB=4096            # buffering the slow download would be 32 MiB
STALL_ANON_MAX_KB=1536            # three stalled downloads (was ~3 MiB)
[ "${SP_SANITIZE:-0}" != 1 ] || STALL_ANON_MAX_KB=4096  # ASan's own heap
[ "${SP_SANITIZE:-0}" != 1 ] || RSS_GROWTH_MAX_KB=8192  # ASan's quarantine

# Backends: trio (3 workers) for the worker kill and the slow streams, solo
# (1 worker) for the aborts, tmo (1 worker, Timeout 2) for execd's timeout.
EXECD_WORKERS=3 EXECD_TIMEOUT=30 start_backend trio || bail "execd trio did not start"
trio_addr=$BACKEND_ADDR trio_pid=$EXECD_PID trio_log=$EXECD_LOG
EXECD_WORKERS=1 EXECD_PREFIX=/solo start_backend solo || bail "execd solo did not start"
solo_addr=$BACKEND_ADDR solo_pid=$EXECD_PID solo_log=$EXECD_LOG
EXECD_WORKERS=1 EXECD_TIMEOUT=2 EXECD_PREFIX=/tmo start_backend tmo ||
    bail "execd tmo (Timeout 2) did not start"
tmo_addr=$BACKEND_ADDR tmo_pid=$EXECD_PID tmo_log=$EXECD_LOG

site() { # site FILE TIMEOUT
    cat >"$1" <<EOF
LoadModule slotproxy_module $MOD_SO
SlotProxySecretFile $RUN/secret
SlotProxyTimeout $2
SlotProxyBackend trio $trio_addr
SlotProxyBackend solo $solo_addr
SlotProxyBackend tmo $tmo_addr
SlotProxyPass /app/ trio
SlotProxyPass /solo/ solo
SlotProxyPass /tmo/ tmo
EOF
}
mkdir -p "$RUN/a" "$RUN/b" "$RUN/p"
chmod 755 "$RUN/a" "$RUN/b" "$RUN/p"
site "$RUN/a/site.conf" 30
site "$RUN/b/site.conf" 2
site "$RUN/p/site.conf" 30

port_a=$(free_port)
start_apache event "$port_a" "$RUN/a/site.conf" || bail "apache (event) did not start"
A=$APACHE_URL a_pid=$APACHE_PID a_log=$APACHE_LOG
port_b=$(free_port)
start_apache event "$port_b" "$RUN/b/site.conf" || bail "apache (event, SlotProxyTimeout 2) did not start"
B=$APACHE_URL b_log=$APACHE_LOG
port_p=$(free_port)
start_apache prefork "$port_p" "$RUN/p/site.conf" || bail "apache (prefork) did not start"
P=$APACHE_URL p_pid=$APACHE_PID p_log=$APACHE_LOG

# bg_curl NAME CURL_ARGS...: a background curl; T_TMP/NAME.{code,body,err}
# get its "STATUS" write-out, body and stderr.  Sets BG_PID (curl's own pid:
# it can be killed).  bg_wait NAME PID then records its exit status.
bg_curl() {
    local name=$1
    shift
    rm -f "$T_TMP/$name".*
    curl -sS -o "$T_TMP/$name.body" -w '%{http_code}' "$@" \
        >"$T_TMP/$name.code" 2>"$T_TMP/$name.err" &
    BG_PID=$!
    track_bg "$BG_PID"
}

bg_wait() {
    wait "$2"
    echo $? >"$T_TMP/$1.rc"
}

# bg_result NAME: "status S, curl exit R" of a finished bg_curl.
bg_result() {
    printf 'status %s, curl exit %s%s' "$(cat "$T_TMP/$1.code" 2>/dev/null)" \
        "$(cat "$T_TMP/$1.rc" 2>/dev/null)" \
        "$(head -c 150 "$T_TMP/$1.err" 2>/dev/null | tr '\n' ' ' | sed 's/^./ (&/; s/.$/&)/')"
}

# lines_at_least FILE N: FILE has N lines or more.
# shellcheck disable=SC2317 # polled through wait_for
lines_at_least() {
    [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]
}

# stream_intact FILE N: FILE is exactly "line 1" ... "line N".
stream_intact() {
    awk -v n="$2" '$0 != "line " NR { bad = 1 } END { exit (bad || NR != n) }' "$1"
}

# in_nanosleep PID: the process sleeps in nanosleep()/clock_nanosleep(), by
# its wchan or, where wchan is hidden, by its syscall number (x86_64 35/230,
# aarch64 101/115).
in_nanosleep() {
    local nr _rest
    case "$(pid_wchan "$1")" in
    *nanosleep*) return 0 ;;
    esac
    read -r nr _rest 2>/dev/null <"/proc/$1/syscall" || return 1
    case "$(uname -m):$nr" in
    x86_64:35 | x86_64:230 | aarch64:101 | aarch64:115) return 0 ;;
    esac
    return 1
}

# sleeping_workers MASTER LOG: the workers in nanosleep (running
# sleep_handler or stream_handler), one a line; idle workers wait on a futex.
sleeping_workers() {
    local w
    for w in $(execd_worker_pids "$1" "$2"); do
        in_nanosleep "$w" && echo "$w"
    done
}

# shellcheck disable=SC2317 # polled through wait_for
one_sleeping_worker() {
    [ "$(sleeping_workers "$1" "$2" | wc -l)" -eq 1 ]
}

# shellcheck disable=SC2317 # polled through wait_for
serves() {
    http "$1"
    [ "$HTTP_CODE" = 200 ]
}

# cut_cleanly NAME: a finished bg_curl failed cleanly: 502, or a reply cut
# visibly (curl exit 18 or 56), not a timeout (28) nor a complete 200.
cut_cleanly() {
    local code rc
    code=$(cat "$T_TMP/$1.code" 2>/dev/null)
    rc=$(cat "$T_TMP/$1.rc" 2>/dev/null)
    { [ "$rc" = 0 ] && [ "$code" = 502 ]; } || [ "$rc" = 18 ] || [ "$rc" = 56 ]
}

# new_worker_pid MASTER LOG OLD_PIDS: true once a worker pid runs that is
# not in OLD_PIDS (" pid pid ... ").
# shellcheck disable=SC2317 # polled through wait_for
new_worker_pid() {
    local w
    for w in $(execd_worker_pids "$1" "$2"); do
        case "$3" in
        *" $w "*) ;;
        *) return 0 ;;
        esac
    done
    return 1
}

# ===========================================================================
# 1. kill -9 of the execd worker running a request
T_CTX="worker kill"
http "$A/app/hello"
expect_body "execd trio serves before the fault" $'hello, world\n'
bg_curl victim --max-time 40 "$A/app/sleep?s=30"
victim_curl=$BG_PID
if wait_for "$WAIT" one_sleeping_worker "$trio_pid" "$trio_log"; then
    victim=$(sleeping_workers "$trio_pid" "$trio_log")
    ok "the worker running sleep?s=30 is found (pid $victim, in nanosleep)"
else
    victim=""
    fail "the worker running sleep?s=30 is found" \
        "workers: $(for w in $(execd_worker_pids "$trio_pid" "$trio_log"); do printf '%s:%s ' "$w" "$(pid_wchan "$w")"; done)"
fi
bg_curl s1 -N --max-time 40 "$A/app/stream?lines=20&interval_ms=100"
s1=$BG_PID
bg_curl s2 -N --max-time 40 "$A/app/stream?lines=20&interval_ms=100"
s2=$BG_PID
if wait_for "$WAIT" lines_at_least "$T_TMP/s1.body" 1 &&
    wait_for "$WAIT" lines_at_least "$T_TMP/s2.body" 1; then
    ok "two streams run on the other workers at the same time"
else
    fail "two streams run on the other workers at the same time" \
        "no first line within $WAIT s: s1 $(bg_result s1), s2 $(bg_result s2)"
fi
old_workers=" $(execd_worker_pids "$trio_pid" "$trio_log" | tr '\n' ' ') "
emark=$(log_mark "$trio_log")
if [ -n "$victim" ]; then
    kill -KILL "$victim"
    bg_wait victim "$victim_curl"
    if [ "$(cat "$T_TMP/victim.code")" = 502 ]; then
        ok "the request of the killed worker gets 502"
    elif cut_cleanly victim; then
        ok "the request of the killed worker gets a visibly broken reply ($(bg_result victim))"
    else
        fail "the request of the killed worker gets 502" "$(bg_result victim)"
    fi
    expect_log "execd logs the worker's death by signal 9" "$trio_log" "$emark" \
        "EXD0033: worker slot [0-9]+ pid $victim killed by signal 9"
    if wait_for "$WAIT" new_worker_pid "$trio_pid" "$trio_log" "$old_workers"; then
        ok "a new worker pid appears under the execd master"
    else
        fail "a new worker pid appears under the execd master" \
            "workers now: $(execd_worker_pids "$trio_pid" "$trio_log" | tr '\n' ' ')"
    fi
    check "the killed worker is gone" pid_gone "$victim"
else
    kill -TERM "$victim_curl" 2>/dev/null
fi
bg_wait s1 "$s1"
bg_wait s2 "$s2"
for s in s1 s2; do
    if [ "$(cat "$T_TMP/$s.rc")" = 0 ] && [ "$(cat "$T_TMP/$s.code")" = 200 ] &&
        stream_intact "$T_TMP/$s.body" 20; then
        ok "the stream $s on another worker completes intact (20 lines)"
    else
        fail "the stream $s on another worker completes intact (20 lines)" \
            "$(bg_result "$s"), lines: $(tr '\n' '|' <"$T_TMP/$s.body" | head -c 200)"
    fi
done
http "$A/app/hello"
expect_body "the next request is served" $'hello, world\n'

# ===========================================================================
# 2. kill -9 of the module's proxy child
T_CTX="proxy child kill"
px0=$(slotproxy_proxy_pid "$a_log")
if [ -n "$px0" ]; then
    ok "the proxy child is found from SPX0204 (pid $px0)"
    bg_curl psleep --max-time 20 "$A/solo/sleep?s=30"
    psleep=$BG_PID
    bg_curl pstream -N --max-time 20 "$A/app/stream?lines=100&interval_ms=100"
    pstream=$BG_PID
    wait_for "$WAIT" one_sleeping_worker "$solo_pid" "$solo_log" ||
        echo "# the sleep request did not reach solo's worker within $WAIT s"
    wait_for "$WAIT" lines_at_least "$T_TMP/pstream.body" 1 ||
        echo "# the stream's first line did not come within $WAIT s"
    amark=$(log_mark "$a_log")
    kill -KILL "$px0"
    t0=$(now_ms)
    bg_wait psleep "$psleep"
    bg_wait pstream "$pstream"
    dt=$(($(now_ms) - t0))
    if cut_cleanly psleep; then
        ok "a request waiting for its head fails cleanly ($(bg_result psleep))"
    else
        fail "a request waiting for its head fails cleanly (502)" "$(bg_result psleep) after $dt ms"
    fi
    if cut_cleanly pstream && ! stream_intact "$T_TMP/pstream.body" 100; then
        ok "a stream in flight is cut visibly ($(bg_result pstream), $(wc -l <"$T_TMP/pstream.body") lines)"
    else
        fail "a stream in flight is cut visibly" "$(bg_result pstream), $(wc -l <"$T_TMP/pstream.body") lines"
    fi
    if wait_for "$WAIT" _log_has "$a_log" "$amark" 'SPX0204: proxy child pid'; then
        px1=$(slotproxy_proxy_pid "$a_log")
        if [ -n "$px1" ] && [ "$px1" != "$px0" ]; then
            ok "a new proxy child starts (pid $px1)"
        else
            fail "a new proxy child starts" "SPX0204 names pid '${px1:-none running}'"
        fi
    else
        fail "a new proxy child starts within $WAIT s" "no new SPX0204 line in ${a_log#"$TOP/"}"
    fi
    http "$A/app/hello"
    expect_body "a new request is served (trio)" $'hello, world\n'
    http "$A/solo/hello"
    expect_body "a new request is served (solo)" $'hello, world\n'
    check "Apache itself was not restarted (same master pid)" pid_running "$a_pid"
else
    fail "the proxy child is found from SPX0204" "no live pid in $(grep -c SPX0204 "$a_log") SPX0204 lines"
fi

# ===========================================================================
# 2b. A request that comes while the proxy child cannot take it (stopped,
# then killed) is sent by the next proxy child, exactly once: the takeover
# finds it untouched in its slot.
T_CTX="proxy child takeover"

# proc_stopped PID: is that process stopped (state T)?
# shellcheck disable=SC2317 # polled through wait_for
proc_stopped() {
    _proc_stat "$1" && [ "$PS_STATE" = T ]
}

# thread_waits_in_slot PID...: does a thread of these processes sleep in
# futex(FUTEX_WAIT) -- shared, as only slot marks are here -- on a word in
# a shared anonymous mapping?  That is an Apache thread whose request sits
# in its slot, waiting for the reply.
# shellcheck disable=SC2317 # polled through wait_for
thread_waits_in_slot() {
    local pid t range perms name lo hi nr addr op rest
    for pid in "$@"; do
        while read -r range perms _ _ _ name; do
            [[ $perms == rw?s && $name == /dev/zero* ]] || continue
            lo=$((16#${range%-*}))
            hi=$((16#${range#*-}))
            for t in /proc/"$pid"/task/*; do
                read -r nr addr op rest <"$t/syscall" 2>/dev/null || continue
                [ "$nr" = 202 ] && [ "$op" = 0x0 ] || continue
                if (( addr >= lo && addr < hi )); then
                    return 0
                fi
            done
        done <"/proc/$pid/maps"
    done
    return 1
}

pxs=$(slotproxy_proxy_pid "$a_log")
if [ -n "$pxs" ]; then
    a_children=()
    for e in $(children_of "$a_pid"); do
        [ "${e%%:*}" = "$pxs" ] || a_children+=("${e%%:*}")
    done
    kill -STOP "$pxs"
    wait_for "$WAIT" proc_stopped "$pxs" || echo "# proxy child $pxs did not stop"
    amark=$(log_mark "$a_log")
    bg_curl taken --max-time 30 "$A/app/echo?id=taken-over"
    taken=$BG_PID
    if wait_for "$WAIT" thread_waits_in_slot "${a_children[@]}"; then
        ok "the request waits in its slot while the proxy child is stopped"
    else
        fail "the request waits in its slot while the proxy child is stopped" \
            "no Apache thread of ${a_children[*]} sleeps on a slot within $WAIT s"
    fi
    kill -KILL "$pxs"
    bg_wait taken "$taken"
    if [ "$(cat "$T_TMP/taken.code" 2>/dev/null)" = 200 ] &&
        [ "$(cat "$T_TMP/taken.body" 2>/dev/null)" = "id=taken-over" ]; then
        ok "the next proxy child serves it (200, its own reply)"
    else
        fail "the next proxy child serves it (200, its own reply)" "$(bg_result taken)"
    fi
    if _log_has "$a_log" "$amark" \
        'SP0120: took over from the previous proxy: 1 request\(s\) it never began are sent now, 0 in flight'; then
        ok "the takeover says it sent the one request it found (SP0120)"
    else
        fail "the takeover says it sent the one request it found (SP0120)" \
            "$(tail -n "+$((amark + 1))" "$a_log" | grep -E 'SP0120|SPX02' | cut -c1-200 | tr '\n' ' ')"
    fi
else
    fail "the proxy child is found from SPX0204" "no live pid in $(grep -c SPX0204 "$a_log") SPX0204 lines"
fi

# ===========================================================================
# 3. kill -9 of the (prefork) Apache child serving a slow request
T_CTX="apache child kill"
lport=$(free_port)
bg_curl csleep --max-time 40 --local-port "$lport" "$P/solo/sleep?s=30"
csleep=$BG_PID
child=""
if wait_for "$WAIT" one_sleeping_worker "$solo_pid" "$solo_log"; then
    child=$(http_conn_pid "$port_p" "$lport")
fi
if [ -n "$child" ] && [ "$child" != "$p_pid" ]; then
    ok "the Apache child holding the connection is found (pid $child)"
    emark=$(log_mark "$solo_log")
    pmark=$(log_mark "$p_log")
    kill -KILL "$child"
    bg_wait csleep "$csleep"
    # (execd's proxy logs a CANCEL reset, SP0108, at debug level only; the
    # handler's EXD1106 line carries the reason.)
    if wait_for "$WAIT" _log_has "$solo_log" "$emark" 'EXD1106: request .* /solo/sleep: abandoned by the proxy \(CANCEL\)'; then
        ok "execd resets the stream (CANCEL) and abandons the handler (EXD1106)"
    else
        fail "execd resets the stream (CANCEL) and abandons the handler (EXD1106)" "no such line within $WAIT s"
    fi
    if wait_for "$WAIT" _log_has "$p_log" "$pmark" "SP0106: slot [0-9]+: owner pid $child died mid-request; slot reclaimed"; then
        ok "Apache's proxy child reclaims the slot of the dead child (SP0106)"
    else
        fail "Apache's proxy child reclaims the slot of the dead child (SP0106)" "no such line within $WAIT s"
    fi
    HTTP_MAX_TIME=10 http "$P/solo/hello"
    expect_body "a later request is served by the (only) worker" $'hello, world\n'
else
    fail "the Apache child holding the connection is found" \
        "ss found '${child:-nothing}' for port $port_p <- $lport; $(bg_result csleep)"
    kill -TERM "$csleep" 2>/dev/null
    bg_wait csleep "$csleep"
fi

# ===========================================================================
# 4. execd stopped, then started again, behind a running Apache
T_CTX="execd down"
if stop_pid "$solo_pid" "execd solo"; then
    HTTP_MAX_TIME=20 http "$A/solo/hello"
    expect_status "execd stopped: 503" 503
    if awk -v t="$HTTP_TIME" 'BEGIN { exit !(t < 5) }'; then
        ok "the 503 is not a timeout (${HTTP_TIME} s, SlotProxyTimeout 30)"
    else
        fail "the 503 is not a timeout" "it took $HTTP_TIME s"
    fi
    if start_execd "$RUN/solo/execd.conf"; then
        solo_pid=$EXECD_PID
        if wait_for 15 serves "$A/solo/hello"; then
            ok "execd started again: served again within 15 s"
        else
            fail "execd started again: served again within 15 s" "$(_http_what)"
        fi
        check "Apache itself was not restarted (same master pid)" pid_running "$a_pid"
    else
        fail "execd solo starts again" "see above"
    fi
else
    fail "execd solo stops on SIGTERM" "it had to be killed"
fi

# ===========================================================================
# 5. a browser going away mid-download and mid-upload (Workers 1)
T_CTX="client gone"
emark=$(log_mark "$solo_log")
HTTP_MAX_TIME=1 http "$A/solo/stream?lines=100000&interval_ms=5"
if [ "$HTTP_RC" = 28 ] && [ "$HTTP_SIZE" -gt 0 ]; then
    ok "mid-download: curl gives up after 1 s with part of the stream"
else
    fail "mid-download: curl gives up after 1 s with part of the stream" "$(_http_what), $HTTP_SIZE bytes"
fi
if wait_for "$WAIT" _log_has "$solo_log" "$emark" 'EXD110[06]: request .* /solo/stream: .*abandoned by the proxy \(CANCEL\)'; then
    ok "mid-download: the handler sees CANCEL"
else
    fail "mid-download: the handler sees CANCEL" "no EXD1106/EXD1100 ... CANCEL line within $WAIT s"
fi
HTTP_MAX_TIME=5 http "$A/solo/hello"
expect_body "mid-download: the only worker serves the next request" $'hello, world\n'

emark=$(log_mark "$solo_log")
fifo="$T_TMP/upload.fifo"
rm -f "$fifo"
mkfifo "$fifo"
curl -sS --max-time 60 -X POST -T - -H 'Content-Type: application/octet-stream' \
    -o "$T_TMP/upload.body" "$A/solo/upload" <"$fifo" 2>"$T_TMP/upload.err" &
up_curl=$!
track_bg "$up_curl"
exec {upfd}>"$fifo"
# Once this much went into the pipe, the handler is reading the body: far
# more than every buffer on the way (pipe, curl, sockets, slots, credit).
if timeout 30 head -c "$UP_BYTES" /dev/zero >&"$upfd"; then
    ok "mid-upload: $((UP_BYTES >> 20)) MiB of the body went out"
else
    fail "mid-upload: $((UP_BYTES >> 20)) MiB of the body went out" "the pipe stalled for 30 s"
fi
kill -KILL "$up_curl" 2>/dev/null
exec {upfd}>&-
wait "$up_curl" 2>/dev/null
rm -f "$fifo"
if wait_for "$WAIT" _log_has "$solo_log" "$emark" 'EXD110[06]: request .* /solo/upload: .*abandoned by the proxy \(CANCEL\)'; then
    ok "mid-upload: the handler sees CANCEL"
else
    fail "mid-upload: the handler sees CANCEL" "no EXD1106/EXD1100 ... CANCEL line within $WAIT s"
fi
HTTP_MAX_TIME=5 http "$A/solo/hello"
expect_body "mid-upload: the only worker serves the next request" $'hello, world\n'

# ===========================================================================
# 6. a slow reader and a slow uploader on the link while 100 fast requests
T_CTX="slow streams"
apx=$(slotproxy_proxy_pid "$a_log")
rss0=$(vmrss_kb "$apx")
random_file "$RUN/up64k" 65536
bg_curl slowdown --limit-rate 1k --max-time 120 "$A/app/gen?bytes=$SLOW_BYTES"
slowdown=$BG_PID
bg_curl slowup --limit-rate 1k --max-time 120 -H 'Content-Type: application/octet-stream' \
    --data-binary "@$RUN/up64k" "$A/app/echo"
slowup=$BG_PID
if wait_for "$WAIT" test -s "$T_TMP/slowdown.body"; then
    ok "the slow download has begun"
else
    fail "the slow download has begun" "nothing within $WAIT s: $(bg_result slowdown)"
fi
out="$RUN/fast"
PE_IMMEDIATE=1 parallel_echo "$A/app" "$N_FAST" "$out" 50 'max-time = 30' \
    'header = "Connection: close"'
if [ "$PE_N200" -eq "$N_FAST" ] && [ -z "$PE_WRONG" ]; then
    ok "$N_FAST fast requests all complete with their own reply"
else
    fail "$N_FAST fast requests all complete with their own reply" \
        "$PE_N200 got 200; wrong bodies for:$(cut -c1-100 <<<"$PE_WRONG"); $(head -c 200 "$out/curl.err")"
fi
if pid_running "$slowdown" && pid_running "$slowup"; then
    ok "... while the slow download and the slow upload are still running"
else
    fail "... while the slow download and the slow upload are still running" \
        "download: $(bg_result slowdown); upload: $(bg_result slowup)"
fi
if ! grep -q 'GET /app/gen' "$(dirname "$trio_log")/access.log" 2>/dev/null; then
    ok "execd has not finished the slow download: its stream is held back by credit"
else
    fail "execd has not finished the slow download" "its access log has the gen request already"
fi
rss1=$(vmrss_kb "$apx")
if [ -n "$rss0" ] && [ -n "$rss1" ] && [ $((rss1 - rss0)) -le "$RSS_GROWTH_MAX_KB" ]; then
    ok "the proxy child's RSS grew by at most $((RSS_GROWTH_MAX_KB / 1024)) MiB (${rss0} -> ${rss1} KiB)"
else
    fail "the proxy child's RSS grew by at most $((RSS_GROWTH_MAX_KB / 1024)) MiB" \
        "pid ${apx:-?}: ${rss0:-?} -> ${rss1:-?} KiB"
fi
kill -TERM "$slowdown" "$slowup" 2>/dev/null
bg_wait slowdown "$slowdown"
bg_wait slowup "$slowup"
got=$(stat -c %s "$T_TMP/slowdown.body")
if [ "$got" -gt 0 ] && cmp -s -n "$got" "$T_TMP/slowdown.body" <("$T_TOOLS/genpat" "$got"); then
    ok "the $got bytes the slow reader got are the right ones"
else
    fail "the bytes the slow reader got are the right ones" "$got bytes differ from genpat"
fi
http "$A/app/hello"
expect_body "the link serves on after the slow clients left" $'hello, world\n'

# Three downloads stalled at once (one per trio worker): what each has in
# flight is bounded by its credit, which goes back only as the Apache
# thread reads its slot, so the proxy child holds next to nothing for
# them.  With credit returned as frames were placed, and a window of four
# spaces, each held up to about 3 spaces in its own buffer (3 x 384 KiB).
T_CTX="stalled downloads"
rssanon_kb() {
    awk '$1 == "RssAnon:" { print $2; f = 1 } END { exit !f }' "/proc/$1/status" 2>/dev/null
}
anon0=$(rssanon_kb "$apx")
stalled=()
for i in 1 2 3; do
    bg_curl "stall$i" --limit-rate 1k --max-time 60 "$A/app/gen?bytes=$SLOW_BYTES"
    stalled+=("$BG_PID")
done
if wait_for "$WAIT" test -s "$T_TMP/stall1.body" -a -s "$T_TMP/stall2.body" -a -s "$T_TMP/stall3.body"; then
    ok "three slow downloads have begun"
else
    fail "three slow downloads have begun" "$(bg_result stall1); $(bg_result stall2); $(bg_result stall3)"
fi
# Their socket buffers fill within a moment; watch the peak for 3 s.
anon_peak=$anon0
for ((i = 0; i < 30; i++)); do
    a=$(rssanon_kb "$apx") && [ "$a" -gt "$anon_peak" ] && anon_peak=$a
    sleep 0.1
done
if [ -n "$anon0" ] && [ $((anon_peak - anon0)) -le "$STALL_ANON_MAX_KB" ]; then
    ok "the proxy child's private memory grew by at most $STALL_ANON_MAX_KB KiB ($anon0 -> $anon_peak KiB)"
else
    fail "the proxy child's private memory grew by at most $STALL_ANON_MAX_KB KiB" \
        "pid ${apx:-?}: RssAnon ${anon0:-?} -> ${anon_peak:-?} KiB"
fi
kill -TERM "${stalled[@]}" 2>/dev/null
for i in 1 2 3; do
    bg_wait "stall$i" "${stalled[$((i - 1))]}"
done
http "$A/app/hello"
expect_body "the link serves on after the stalled downloads left" $'hello, world\n'

# ===========================================================================
# 7. timeouts
T_CTX="timeouts"
bmark=$(log_mark "$b_log")
HTTP_MAX_TIME=30 http "$B/app/sleep?s=60"
expect_status "SlotProxyTimeout 2 (execd Timeout 30): 504" 504
if awk -v t="$HTTP_TIME" 'BEGIN { exit !(t < 10) }'; then
    ok "the 504 comes within 10 s (${HTTP_TIME} s)"
else
    fail "the 504 comes within 10 s" "it took $HTTP_TIME s"
fi
expect_log "the error_log names the backend" "$b_log" "$bmark" 'SPX0104: backend trio: no reply within SlotProxyTimeout'

tmo_old=$(execd_worker_pids "$tmo_pid" "$tmo_log" | tr '\n' ' ')
emark=$(log_mark "$tmo_log")
HTTP_MAX_TIME=30 http "$A/tmo/sleep?s=60"
expect_status "execd Timeout 2 (SlotProxyTimeout 30): 504" 504
expect_log "execd resets the stream and kills the worker (SP0118)" "$tmo_log" "$emark" \
    'SP0118: slot [0-9]+: worker pid [0-9]+ made no progress .*worker killed'
killed=$(tail -n "+$((emark + 1))" "$tmo_log" | grep -o 'SP0118: slot [0-9]*: worker pid [0-9]*' | head -n 1)
killed=${killed##* }
if [ -n "$killed" ] && [[ " $tmo_old " == *" $killed "* ]] &&
    wait_for "$WAIT" new_worker_pid "$tmo_pid" "$tmo_log" " $tmo_old "; then
    ok "the killed worker (pid $killed) is replaced by a new pid"
else
    fail "the killed worker is replaced by a new pid" \
        "killed '${killed:-?}', before: $tmo_old, now: $(execd_worker_pids "$tmo_pid" "$tmo_log" | tr '\n' ' ')"
fi
HTTP_MAX_TIME=10 http "$A/tmo/hello"
expect_body "the replacement worker serves" $'hello, world\n'

done_testing
