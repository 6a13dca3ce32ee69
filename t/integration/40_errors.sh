#!/usr/bin/env bash
# What a broken, slow, busy or unreachable backend gets, under both MPMs.
# Each case must give its status and an error_log line naming the backend:
#   nothing listening on the backend's port          -> 503
#   execd with another secret                        -> 503 (+ execd logs auth)
#   the handler's worker dies before the head        -> 502
#   the worker dies after the head was sent          -> a visibly broken body
#   no reply within SlotProxyTimeout 2               -> 504, within a bound
#   Workers 1, QueueSize 1, worker and queue taken   -> 503 with Retry-After
#   execd stopped                                    -> 503; restarted -> served
# and the backend must serve normally afterwards.
# shellcheck source=t/lib.sh
. "$(dirname "$0")/../lib.sh"
t_begin
need_built

SLEEP_S=6           # sleep_handler's delay, longer than SlotProxyTimeout 2
TIMEOUT_BOUND=5.5   # seconds within which the 504 must arrive
WAIT=10             # generous bound for the overload sequence steps

EXECD_WORKERS=3 start_backend main || bail "execd main did not start"
main_addr=$BACKEND_ADDR
main_log=$EXECD_LOG

EXECD_WORKERS=1 EXECD_QUEUE=1 EXECD_PREFIX=/small start_backend small ||
    bail "execd small (Workers 1, QueueSize 1) did not start"
small_addr=$BACKEND_ADDR
small_pid=$EXECD_PID

write_secret "$RUN/other-secret"
EXECD_SECRET="$RUN/other-secret" EXECD_PREFIX=/badauth start_backend badauth ||
    bail "execd badauth did not start"
badauth_addr=$BACKEND_ADDR
badauth_log=$EXECD_LOG

nowhere_port=$(free_port)

cat >"$RUN/site.conf" <<EOF
LoadModule slotproxy_module $MOD_SO
SlotProxySecretFile $RUN/secret
SlotProxyBackend main $main_addr
SlotProxyBackend small $small_addr
SlotProxyBackend badauth $badauth_addr
SlotProxyBackend nowhere tcp://127.0.0.1:$nowhere_port
SlotProxyPass /app/ main
SlotProxyPass /small/ small
SlotProxyPass /badauth/ badauth
SlotProxyPass /nowhere/ nowhere
EOF

mkdir -p "$RUN/t"
chmod 755 "$RUN/t"
cat >"$RUN/t/site.conf" <<EOF
LoadModule slotproxy_module $MOD_SO
SlotProxySecretFile $RUN/secret
SlotProxyTimeout 2
SlotProxyBackend main $main_addr
SlotProxyPass /app/ main
EOF

# bg_get NAME URL: a background GET; NAME.code/.head/.body in T_TMP.
# Sets BG_PID.
bg_get() {
    rm -f "$T_TMP/$1".*
    curl -sS --max-time 30 -D "$T_TMP/$1.head" -o "$T_TMP/$1.body" -w '%{http_code}' "$2" \
        >"$T_TMP/$1.code" 2>"$T_TMP/$1.err" &
    BG_PID=$!
    track_bg "$BG_PID"
}

bg_code() {
    cat "$T_TMP/$1.code" 2>/dev/null
}

# serves URL: true if URL answers 200 now (polled through wait_for).
# shellcheck disable=SC2317
serves() {
    http "$1"
    [ "$HTTP_CODE" = 200 ]
}

# shellcheck disable=SC2317 # polled through wait_for
either_gone() {
    pid_gone "$1" || pid_gone "$2"
}

# overload URL_BASE: holds small's only worker with a gated stream, fills
# its queue, and expects the request that finds both taken to get 503.
overload() {
    local u=$1 gate gate_file fifo fd first a b first_done other mark
    gate="slotproxy-$$-$T_CTX"
    gate_file="/tmp/execd-gate-$gate"
    rm -f "$gate_file"
    T_CLEANUP+=("$gate_file")
    fifo="$T_TMP/hold.fifo"
    rm -f "$fifo"
    mkfifo "$fifo"
    mark=$(log_mark "$APACHE_LOG")

    curl -sS -N --max-time 60 "$u/small/stream?lines=2&interval_ms=1&gate=$gate" \
        >"$fifo" 2>"$T_TMP/hold.err" &
    local hold=$!
    track_bg "$hold"
    exec {fd}<"$fifo"
    if ! read -r -t "$WAIT" -u "$fd" first; then
        fail "overload: a gated stream holds the only worker" "no first line within $WAIT s"
        touch "$gate_file"
        exec {fd}<&-
        wait "$hold"
        return
    fi
    ok "overload: a gated stream holds the only worker ('$first')"

    bg_get a "$u/small/hello"
    a=$BG_PID
    bg_get b "$u/small/hello"
    b=$BG_PID
    if wait_for "$WAIT" either_gone "$a" "$b"; then
        if pid_gone "$a"; then first_done=a other=b; else first_done=b other=a; fi
        if [ "$(bg_code "$first_done")" = 503 ]; then
            ok "overload: a request finding worker and queue taken gets 503 at once"
        else
            fail "overload: a request finding worker and queue taken gets 503 at once" \
                "it got status $(bg_code "$first_done")"
        fi
        if [ -n "$(header_values Retry-After "$T_TMP/$first_done.head")" ]; then
            ok "overload: the 503 has a Retry-After header"
        else
            fail "overload: the 503 has a Retry-After header" \
                "head: $(tr -d '\r' <"$T_TMP/$first_done.head" | tr '\n' '|')"
        fi
        expect_log "overload: the error_log names the backend" "$APACHE_LOG" "$mark" small
    else
        fail "overload: a request finding worker and queue taken gets 503 at once" \
            "neither of two requests ended within $WAIT s"
        other=""
    fi

    touch "$gate_file"
    while read -r -t 30 -u "$fd" _; do :; done
    exec {fd}<&-
    wait "$hold"
    check "overload: the held stream then completes" test "$?" -eq 0
    wait "$a" "$b"
    if [ -n "$other" ]; then
        if [ "$(bg_code "$other")" = 200 ] &&
            [ "$(cat "$T_TMP/$other.body")" = "hello, world" ]; then
            ok "overload: the queued request is served once the worker is free"
        else
            fail "overload: the queued request is served once the worker is free" \
                "status $(bg_code "$other"), body '$(head -c 60 "$T_TMP/$other.body")'"
        fi
    fi
    rm -f "$gate_file" "$fifo"
    http "$u/small/hello"
    expect_body "overload: execd serves normally afterwards" $'hello, world\n'
}

for mpm in event prefork; do
    T_CTX=$mpm
    tport=$(free_port)
    if ! start_apache "$mpm" "$tport" "$RUN/t/site.conf"; then
        fail "apache (SlotProxyTimeout 2) starts" "see above"
        continue
    fi
    t_pid=$APACHE_PID
    t_url=$APACHE_URL
    t_log=$APACHE_LOG
    port=$(free_port)
    if ! start_apache "$mpm" "$port" "$RUN/site.conf"; then
        fail "apache starts with four backends" "see above"
        continue
    fi
    u=$APACHE_URL

    # --- unreachable -------------------------------------------------------
    mark=$(log_mark "$APACHE_LOG")
    http "$u/nowhere/hello"
    expect_status "nothing listening on the backend's port: 503" 503
    expect_log "unreachable: the error_log names the backend" "$APACHE_LOG" "$mark" nowhere

    # --- wrong secret ------------------------------------------------------
    mark=$(log_mark "$APACHE_LOG")
    http "$u/badauth/hello"
    expect_status "execd with another secret: 503" 503
    expect_log "wrong secret: the error_log names the backend" "$APACHE_LOG" "$mark" badauth
    expect_log "wrong secret: execd logs an authentication failure" "$badauth_log" 0 'auth|secret'

    # --- the worker dies ---------------------------------------------------
    mark=$(log_mark "$APACHE_LOG")
    emark=$(log_mark "$main_log")
    http "$u/app/crash"
    expect_status "the worker dies before the head: 502" 502
    expect_log "worker died: the error_log names the backend" "$APACHE_LOG" "$mark" main
    expect_log "worker died: execd logs it" "$main_log" "$emark" 'signal|abort|died|crash|killed|exit'
    http "$u/app/hello"
    expect_body "after a crash execd still serves" $'hello, world\n'

    mark=$(log_mark "$APACHE_LOG")
    http "$u/app/crash?after_head=1"
    if [ "$HTTP_RC" -eq 18 ] || [ "$HTTP_RC" -eq 56 ]; then
        ok "the worker dies after the head: the body is visibly broken (curl exit $HTTP_RC)"
    elif [ "$HTTP_RC" -ne 0 ]; then
        ok "the worker dies after the head: the body is visibly broken (curl exit $HTTP_RC, not 18/56)"
    elif [ "$HTTP_CODE" = 502 ]; then
        fail "the worker dies after the head: the body is visibly broken" \
            "a complete 502 instead: the head and 'partial' the handler flushed before abort() never reached the client"
    else
        fail "the worker dies after the head: the body is visibly broken" \
            "curl saw a complete reply: status $HTTP_CODE, $HTTP_SIZE bytes"
    fi
    expect_log "broken body: the error_log names the backend" "$APACHE_LOG" "$mark" main
    http "$u/app/hello"
    expect_body "after a crash mid-body execd still serves" $'hello, world\n'

    # --- busy: Workers 1, QueueSize 1 --------------------------------------
    overload "$u"

    # --- timeout -----------------------------------------------------------
    mark=$(log_mark "$t_log")
    http "$t_url/app/sleep?s=$SLEEP_S"
    expect_status "no reply within SlotProxyTimeout 2: 504" 504
    if awk -v t="$HTTP_TIME" -v b="$TIMEOUT_BOUND" 'BEGIN { exit !(t < b) }'; then
        ok "the 504 comes within $TIMEOUT_BOUND s (${HTTP_TIME} s)"
    else
        fail "the 504 comes within $TIMEOUT_BOUND s" "it took $HTTP_TIME s"
    fi
    expect_log "timeout: the error_log names the backend" "$t_log" "$mark" main
    http "$u/app/hello"
    expect_body "during a timed-out request execd still serves" $'hello, world\n'

    # --- execd goes away, comes back ----------------------------------------
    if stop_pid "$small_pid" "execd small"; then
        mark=$(log_mark "$APACHE_LOG")
        http "$u/small/hello"
        expect_status "execd stopped: 503" 503
        expect_log "execd stopped: the error_log names the backend" "$APACHE_LOG" "$mark" small
        if start_execd "$RUN/small/execd.conf"; then
            small_pid=$EXECD_PID
            if wait_for 15 serves "$u/small/hello"; then
                ok "execd restarted: apache serves through it again within 15 s"
            else
                fail "execd restarted: apache serves through it again within 15 s" "$(_http_what)"
            fi
        else
            fail "execd small restarts" "see above"
        fi
    else
        fail "execd small stops on SIGTERM" "it had to be killed"
    fi

    stop_apache "$APACHE_PID"
    stop_apache "$t_pid"
done

done_testing
