#!/usr/bin/env bash
# Hostile peers and oversized requests.
#  - t/tools/badpeer connects to execd's link port and breaks the protocol
#    one way per case: random garbage, a frame header claiming 0xffffffff
#    bytes, a truncated frame and a half-close, an AUTH with a wrong secret,
#    a HELLO of another protocol version, and after a correct handshake a
#    DATA frame for a stream never opened and a HEADERS on an even stream
#    id.  For each: execd closes the connection within 5 s, logs the peer's
#    address and the reason (SP0113 ... closed: ...), keeps its master,
#    proxy and workers, serves a normal request through Apache, and after
#    20 more such connections its proxy has as many fds open as before.
#    The case "good" (a correct handshake, PING answered, link kept) is the
#    control that shows badpeer's handshake is right.
#  - Requests over a limit: a head larger than the slot (431, with
#    SlotProxySlotSize 8k and with the default 128k), a body over execd's
#    LimitRequestBody (413, with Content-Length and chunked), more header
#    fields than Apache's LimitRequestFields (Apache's own 4xx); nothing is
#    logged as a crash.
# shellcheck source=t/lib.sh
. "$(dirname "$0")/../lib.sh"
t_begin
need_built
need_tool badpeer || bail "cannot build $T_TOOLS/badpeer"

N_MORE=20
LIMIT_BODY=65536

EXECD_WORKERS=2 start_backend main "LimitRequestBody $LIMIT_BODY" || bail "execd did not start"
main_addr=$BACKEND_ADDR eport=$BACKEND_PORT epid=$EXECD_PID elog=$EXECD_LOG

cat >"$RUN/site.conf" <<EOF
LoadModule slotproxy_module $MOD_SO
SlotProxySecretFile $RUN/secret
SlotProxyTimeout 30
SlotProxyBackend main $main_addr
SlotProxyPass /app/ main
EOF
mkdir -p "$RUN/small"
chmod 755 "$RUN/small"
cat >"$RUN/small/site.conf" <<EOF
LoadModule slotproxy_module $MOD_SO
SlotProxySecretFile $RUN/secret
SlotProxyTimeout 30
SlotProxySlotSize 8k
SlotProxyBackend main $main_addr
SlotProxyPass /app/ main
EOF

port=$(free_port)
start_apache event "$port" "$RUN/site.conf" || bail "apache did not start"
u=$APACHE_URL alog=$APACHE_LOG

http "$u/app/hello"
expect_body "a normal request is served" $'hello, world\n' || bail "nothing works"
eproxy=$(execd_proxy_pid "$elog")
[ -n "$eproxy" ] || bail "no execd proxy pid (EXD0012) in ${elog#"$TOP/"}"
workers0=$(execd_worker_pids "$epid" "$elog" | sort | tr '\n' ' ')
fds0=$(fd_count "$eproxy")
echo "# execd master $epid, proxy $eproxy ($fds0 fds), workers $workers0"

# badpeer_run CASE: one connection; sets BP_RC, BP_OUT, BP_LOCAL.
badpeer_run() {
    BP_OUT=$("$T_TOOLS/badpeer" 127.0.0.1 "$eport" "$1" "$RUN/secret" 2>&1)
    BP_RC=$?
    BP_LOCAL=$(sed -n 's/^local //p' <<<"$BP_OUT")
}

# shellcheck disable=SC2317 # polled through wait_for
fds_back() {
    [ "$(fd_count "$eproxy")" = "$fds0" ]
}

badpeer_run good
if [ "$BP_RC" -eq 0 ]; then
    ok "control: a correct peer is authenticated, its PING answered, its link kept"
else
    fail "control: a correct peer is authenticated, its PING answered, its link kept" \
        "badpeer exit $BP_RC: $(tr '\n' ' ' <<<"$BP_OUT")"
fi

# case -> the reason execd must log (after "closed: ")
declare -A REASON=(
    [garbage]='bad frame header \[[0-9a-f ]+\]: malformed'
    [hugelen]='bad frame header \[ff ff ff ff 01 00 00 00 00 00 00 00\]: length past the limit'
    [truncated]='the peer closed the connection during the handshake'
    [wrongsecret]='peer does not know the shared secret'
    [version]='peer speaks protocol version 2, we speak 1'
    [stray-data]='DATA .*stream 1|stream 1.*DATA'
    [even-headers]='stream id 2 .*even'
)
for c in garbage hugelen truncated wrongsecret version stray-data even-headers; do
    T_CTX=$c
    mark=$(log_mark "$elog")
    badpeer_run "$c"
    if [ "$BP_RC" -eq 0 ]; then
        ok "execd closes the connection ($(tail -n 1 <<<"$BP_OUT"))"
    else
        fail "execd closes the connection within 5 s" "badpeer exit $BP_RC: $(tr '\n' ' ' <<<"$BP_OUT")"
    fi
    if [ -n "$BP_LOCAL" ]; then
        expect_log "execd logs the peer $BP_LOCAL and the reason" "$elog" "$mark" \
            "SP0113: link .*peer ${BP_LOCAL//./\\.} closed: (${REASON[$c]})" ||
            tail -n "+$((mark + 1))" "$elog" | grep -F "$BP_LOCAL" | cut -c1-300 | sed 's/^/#   execd| /'
    else
        fail "execd logs the peer and the reason" "badpeer printed no local address"
    fi
    if pid_running "$epid" && pid_running "$eproxy" &&
        [ "$(execd_worker_pids "$epid" "$elog" | sort | tr '\n' ' ')" = "$workers0" ]; then
        ok "execd's master, proxy and workers are the same processes"
    else
        fail "execd's master, proxy and workers are the same processes" \
            "master $epid, proxy $eproxy, workers now $(execd_worker_pids "$epid" "$elog" | tr '\n' ' ') (were $workers0)"
    fi
    http "$u/app/hello"
    expect_body "a normal request through Apache is served" $'hello, world\n'
    pids=()
    for ((i = 0; i < N_MORE; i++)); do
        "$T_TOOLS/badpeer" 127.0.0.1 "$eport" "$c" "$RUN/secret" >/dev/null 2>&1 &
        pids+=("$!")
    done
    wait "${pids[@]}"
    if wait_for 5 fds_back; then
        ok "after $N_MORE more such connections execd's proxy has its $fds0 fds again"
    else
        fail "after $N_MORE more such connections execd's proxy has its $fds0 fds again" \
            "it has $(fd_count "$eproxy") 5 s after they ended"
    fi
done
T_CTX=""
http "$u/app/hello"
expect_body "after all of it a normal request is served" $'hello, world\n'

# ===========================================================================
# Requests over a limit
T_CTX="limits"
amark=$(log_mark "$alog")
big=$(head -c 6144 /dev/zero | tr '\0' a)  # 6 KiB
big7=$(head -c 7168 /dev/zero | tr '\0' b) # 7 KiB: under LimitRequestFieldSize
hdrs=()
for ((i = 1; i <= 10; i++)); do
    hdrs+=(-H "X-Big-$i: $big7")
done
http "${hdrs[@]}" "$u/app/hello"
expect_status "a head larger than a frame of the default 128k slot (10 fields of 7 KiB): 431" 431
expect_log "the error_log says the head does not fit" "$alog" "$amark" 'SPX0104: backend main: the request head does not fit in one slot space'

random_file "$RUN/over.bin" $((LIMIT_BODY * 3))
random_file "$RUN/under.bin" $((LIMIT_BODY - 1000))
http -H 'Content-Type: application/octet-stream' --data-binary "@$RUN/under.bin" "$u/app/echo"
expect_body_file "a body under LimitRequestBody is echoed" "$RUN/under.bin"
emark=$(log_mark "$elog")
http -H 'Content-Type: application/octet-stream' --data-binary "@$RUN/over.bin" "$u/app/echo"
expect_status "a body over LimitRequestBody (Content-Length): 413" 413
expect_log "execd logs the Content-Length over the limit (EXD1111)" "$elog" "$emark" \
    "EXD1111: request .* /app/echo: Content-Length $((LIMIT_BODY * 3)) is over LimitRequestBody $LIMIT_BODY"
emark=$(log_mark "$elog")
http -H 'Content-Type: application/octet-stream' -H 'Transfer-Encoding: chunked' \
    --data-binary "@$RUN/over.bin" "$u/app/upload"
expect_status "a chunked body over LimitRequestBody: 413" 413
expect_log "execd logs the body passing the limit (EXD1104)" "$elog" "$emark" \
    "EXD1104: request .* /app/upload: body passed LimitRequestBody $LIMIT_BODY"

hdrs=()
for ((i = 1; i <= 120; i++)); do
    hdrs+=(-H "X-Field-$i: $i")
done
http "${hdrs[@]}" "$u/app/hello"
if [[ $HTTP_CODE =~ ^4[0-9][0-9]$ ]]; then
    ok "120 header fields (over LimitRequestFields 100): Apache's own $HTTP_CODE"
else
    fail "120 header fields (over LimitRequestFields 100): a 4xx" "$(_http_what)"
fi
http "$u/app/hello"
expect_body "a normal request is still served" $'hello, world\n'

# SlotProxySlotSize 8k: the smallest slot the directive accepts.
port4=$(free_port)
if start_apache event "$port4" "$RUN/small/site.conf"; then
    u4=$APACHE_URL alog4=$APACHE_LOG
    amark=$(log_mark "$alog4")
    http -H "X-Big: $big" "$u4/app/hello"
    expect_status "SlotProxySlotSize 8k, a 6 KiB header: 431" 431
    expect_log "the error_log says the head does not fit" "$alog4" "$amark" \
        'SPX0104: backend main: the request head does not fit in one slot space'
    http "$u4/app/hello"
    if ! expect_body "SlotProxySlotSize 8k: a normal request is served" $'hello, world\n'; then
        { grep SP0113 "$alog4" | tail -n 1; grep SPX0104 "$alog4" | tail -n 1; } |
            cut -c1-300 | sed 's/^/#   apache| /'
        grep -E 'SP0113' "$elog" | tail -n 1 | cut -c1-300 | sed 's/^/#   execd| /'
    fi
    stop_apache "$APACHE_PID"
else
    fail "apache with SlotProxySlotSize 8k starts" "see above"
fi

T_CTX=""
crash='exit signal|Segmentation|AH00052|SPX0206|killed by signal|EXD0033|EXD0034|EXD0040|core dumped'
if grep -Eh "$crash" "$alog" "$elog" ${alog4:+"$alog4"} >"$T_TMP/crash.txt"; then
    fail "nothing is logged as a crash" "$(head -n 3 "$T_TMP/crash.txt" | cut -c1-200 | tr '\n' ';')"
else
    ok "nothing is logged as a crash (Apache and execd logs)"
fi

done_testing
