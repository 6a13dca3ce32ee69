#!/usr/bin/env bash
# Streaming, under both MPMs, without any assertion on speed:
#  - stream.so writes "line 1", flushes, and then waits for a gate file.
#    The test reads that first line through a FIFO from a background curl
#    BEFORE it creates the gate, so the line cannot have come from a
#    buffered, complete reply.  Then the rest must arrive.
#  - A client that goes away mid-stream frees the worker: with Workers 1,
#    the next request is still served.
# shellcheck source=t/lib.sh
. "$(dirname "$0")/../lib.sh"
t_begin
need_built

LINES=5
FIRST_LINE_WAIT=10 # seconds; generous, this is not a speed test

start_backend main || bail "execd did not start"
main_addr=$BACKEND_ADDR
EXECD_WORKERS=1 EXECD_PREFIX=/solo start_backend solo || bail "execd (Workers 1) did not start"
solo_addr=$BACKEND_ADDR

cat >"$RUN/site.conf" <<EOF
LoadModule slotproxy_module $MOD_SO
SlotProxySecretFile $RUN/secret
SlotProxyBackend main $main_addr
SlotProxyBackend solo $solo_addr
SlotProxyPass /app/ main
SlotProxyPass /solo/ solo
EOF

# consecutive FILE FIRST COUNT: FILE has COUNT lines "line FIRST" ... in order.
consecutive() {
    awk -v first="$2" -v count="$3" '
        $0 != "line " (first + NR - 1) { bad = 1 }
        END { exit (bad || NR != count) }' "$1"
}

for mpm in event prefork; do
    T_CTX=$mpm
    port=$(free_port)
    if ! start_apache "$mpm" "$port" "$RUN/site.conf"; then
        fail "apache starts" "see above"
        continue
    fi
    u=$APACHE_URL

    # --- the first line arrives while the handler is still blocked ---------
    gate="slotproxy-$$-$mpm"
    gate_file="/tmp/execd-gate-$gate"
    rm -f "$gate_file"
    T_CLEANUP+=("$gate_file")
    fifo="$T_TMP/stream-$mpm.fifo"
    rm -f "$fifo"
    mkfifo "$fifo"
    curl -sS -N --max-time 60 "$u/app/stream?lines=$LINES&interval_ms=10&gate=$gate" \
        >"$fifo" 2>"$T_TMP/stream-$mpm.err" &
    cpid=$!
    track_bg "$cpid"
    exec {fd}<"$fifo"
    : >"$T_TMP/stream-$mpm.lines"
    if read -r -t "$FIRST_LINE_WAIT" -u "$fd" first; then
        ok "the first line arrives while the handler waits for its gate ('$first')"
        echo "$first" >>"$T_TMP/stream-$mpm.lines"
        check "the reply is still open before the gate exists" pid_running "$cpid"
        touch "$gate_file"
        while read -r -t 30 -u "$fd" line; do
            echo "$line" >>"$T_TMP/stream-$mpm.lines"
        done
        n=${first#line }
        if [[ $n =~ ^[0-9]+$ ]] && consecutive "$T_TMP/stream-$mpm.lines" "$n" "$LINES"; then
            ok "after the gate opens the other $((LINES - 1)) lines follow, in order"
        else
            fail "after the gate opens the other $((LINES - 1)) lines follow, in order" \
                "got: $(tr '\n' '|' <"$T_TMP/stream-$mpm.lines")"
        fi
    else
        fail "the first line arrives while the handler waits for its gate" \
            "nothing within $FIRST_LINE_WAIT s: the reply is buffered, not streamed"
        touch "$gate_file"
    fi
    exec {fd}<&-
    wait "$cpid"
    rc=$?
    check "the streamed reply ends cleanly (curl exit 0)" test "$rc" -eq 0
    rm -f "$gate_file" "$fifo"

    # --- a client that goes away frees its worker --------------------------
    HTTP_MAX_TIME=2 http "$u/solo/stream?lines=100000&interval_ms=5"
    check "a client giving up mid-stream sees a partial reply" test "$HTTP_RC" -ne 0 -a "$HTTP_SIZE" -gt 0
    HTTP_MAX_TIME=20 http "$u/solo/hello"
    expect_status "the only worker serves the next request (Workers 1)" 200
    expect_body "and the reply is the right one" $'hello, world\n'

    stop_apache "$APACHE_PID"
done

done_testing
