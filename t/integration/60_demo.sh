#!/usr/bin/env bash
# scripts/demo.sh as an operator uses it, on a free port and in this
# test's own directory (DEMO_DIR), so a demo running on 8080 is not
# disturbed: start --background serves the front page and the form,
# upload, stream, CGI and hello endpoints; a second start is refused; a
# start on a port in use is refused; stop stops both processes; the
# foreground mode stops both on SIGTERM.
# shellcheck source=t/lib.sh
. "$(dirname "$0")/../lib.sh"
t_begin
need_built

DEMO="$TOP/scripts/demo.sh"
export DEMO_DIR="$RUN/demo"
port=$(free_port)

# demo_pids: records the demo's two processes for the exit trap; sets
# D_EXECD and D_HTTPD.
demo_pids() {
    D_EXECD=$(_read_pidfile "$DEMO_DIR/execd.pid") || D_EXECD=""
    D_HTTPD=$(_read_pidfile "$DEMO_DIR/httpd.pid") || D_HTTPD=""
    [ -z "$D_EXECD" ] || record_pid "$D_EXECD" "demo execd"
    [ -z "$D_HTTPD" ] || record_pid "$D_HTTPD" "demo apache2"
    [ -n "$D_EXECD" ] && [ -n "$D_HTTPD" ]
}

out=$(DEMO_PORT=$port "$DEMO" start --background 2>&1)
rc=$?
demo_pids
if [ "$rc" -eq 0 ] && [ -n "$D_EXECD" ] && [ -n "$D_HTTPD" ]; then
    ok "demo.sh start --background starts execd and apache2"
else
    awk '{ print "#   " $0 }' <<<"$out"
    bail "demo.sh start --background failed (exit $rc)"
fi
check "it prints the URL" grep -qF "http://127.0.0.1:$port/" <<<"$out"
check "it says how to stop it" grep -qi "stop" <<<"$out"
check "it keeps its files in DEMO_DIR" test -f "$DEMO_DIR/execd.conf" -a -f "$DEMO_DIR/httpd.conf"
check "its secret has mode 600" test "$(stat -c %a "$DEMO_DIR/secret")" = 600
u="http://127.0.0.1:$port"

http "$u/"
expect_status "the front page is 200" 200
expect_header "the front page is HTML" Content-Type '^text/html'
expect_body_has "the front page has an <html> element" '<[hH][tT][mM][lL]'

http "$u/hello"
expect_body "/hello says hello" $'hello, world\n'

http --data 'who=demo&n=1' "$u/form"
expect_status "POST /form is 200" 200
expect_field "/form shows the method" :method POST
expect_field "/form shows the body size" body-bytes 10

random_file "$RUN/upload" 100000
http -F "file=@$RUN/upload" "$u/upload"
expect_status "a multipart upload to /upload is 200" 200
expect_body_has "/upload reports a byte count" '"bytes": *[0-9]+'
http -H 'Content-Type: application/octet-stream' --data-binary @"$RUN/upload" "$u/upload"
expect_body_has "/upload reports the sha256 of a raw upload" "\"sha256\": *\"$(sha_of "$RUN/upload")\""

http "$u/stream?lines=3&interval_ms=10"
expect_status "/stream is 200" 200
check "/stream sends 3 lines" test "$(grep -c '^line ' "$HTTP_BODY")" = 3

http "$u/cgi/hello.sh"
expect_status "/cgi/hello.sh is 200" 200
check "/cgi/hello.sh has a body" test -s "$HTTP_BODY"

out=$(DEMO_PORT=$port "$DEMO" start --background 2>&1)
rc=$?
if [ "$rc" -ne 0 ] && grep -qi "already running" <<<"$out"; then
    ok "a second start is refused: already running"
else
    fail "a second start is refused: already running" "exit $rc: $out"
fi

out=$(DEMO_DIR="$RUN/demo2" DEMO_PORT=$port "$DEMO" start --background 2>&1)
rc=$?
if [ "$rc" -ne 0 ] && grep -qF "$port" <<<"$out" && grep -qi "in use" <<<"$out"; then
    ok "a start on a port in use is refused, naming the port"
else
    fail "a start on a port in use is refused, naming the port" "exit $rc: $out"
    DEMO_DIR="$RUN/demo2" "$DEMO" stop >/dev/null 2>&1
fi

out=$("$DEMO" stop 2>&1)
rc=$?
check "demo.sh stop exits 0" test "$rc" -eq 0
check "demo.sh stop stops apache2" pid_gone "$D_HTTPD"
check "demo.sh stop stops execd" pid_gone "$D_EXECD"
check_not "and the port is free again" port_open "$port"
out=$("$DEMO" stop 2>&1)
rc=$?
if [ "$rc" -eq 0 ] && grep -qi 'not running' <<<"$out"; then
    ok "demo.sh stop when not running says so and exits 0"
else
    fail "demo.sh stop when not running says so and exits 0" "exit $rc: $out"
fi

# Foreground: `make demo` runs this; Ctrl-C or SIGTERM stops both.
port=$(free_port)
DEMO_PORT=$port "$DEMO" start >"$T_TMP/fg.out" 2>&1 &
fg=$!
track_bg "$fg"
if wait_for "$START_TIMEOUT" port_open "$port" && demo_pids; then
    ok "demo.sh start (foreground) serves"
    check "and stays in the foreground" pid_running "$fg"
    kill -TERM "$fg"
    wait_for "$STOP_TIMEOUT" pid_gone "$fg"
    check "SIGTERM to the foreground demo.sh stops apache2" wait_for "$STOP_TIMEOUT" pid_gone "$D_HTTPD"
    check "and execd" wait_for "$STOP_TIMEOUT" pid_gone "$D_EXECD"
else
    fail "demo.sh start (foreground) serves" "output: $(head -c 300 "$T_TMP/fg.out")"
fi

done_testing
