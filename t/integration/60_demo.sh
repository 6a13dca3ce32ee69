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

# demo CMD...: runs scripts/demo.sh with its output in a file (never in a
# $(...): a daemon keeping the output open would hang the test); sets OUT
# and RC.
demo() {
    "$DEMO" "$@" </dev/null >"$T_TMP/demo.out" 2>&1
    RC=$?
    OUT=$(cat "$T_TMP/demo.out")
}

# Whatever happens, the demos this test started are stopped at exit.
# shellcheck disable=SC2317 # called at exit
stop_demos() {
    "$DEMO" stop </dev/null >/dev/null 2>&1
    DEMO_DIR="$RUN/demo2" "$DEMO" stop </dev/null >/dev/null 2>&1
}
at_exit stop_demos

# demo_pids: records the demo's two processes for the exit trap; sets
# D_EXECD and D_HTTPD.
demo_pids() {
    D_EXECD=$(_read_pidfile "$DEMO_DIR/execd.pid") || D_EXECD=""
    D_HTTPD=$(_read_pidfile "$DEMO_DIR/httpd.pid") || D_HTTPD=""
    [ -z "$D_EXECD" ] || record_pid "$D_EXECD" "demo execd"
    [ -z "$D_HTTPD" ] || record_pid "$D_HTTPD" "demo apache2"
    [ -n "$D_EXECD" ] && [ -n "$D_HTTPD" ]
}

DEMO_PORT=$port demo start --background
demo_pids
if [ "$RC" -eq 0 ] && [ -n "$D_EXECD" ] && [ -n "$D_HTTPD" ]; then
    ok "demo.sh start --background starts execd and apache2"
else
    awk '{ print "#   " $0 }' <<<"$OUT"
    bail "demo.sh start --background failed (exit $RC)"
fi
check "it prints the URL" grep -qF "http://127.0.0.1:$port/" <<<"$OUT"
check "it says how to stop it" grep -qi "stop" <<<"$OUT"
check "it keeps its files in DEMO_DIR" test -f "$DEMO_DIR/execd.conf" -a -f "$DEMO_DIR/httpd.conf"
check "its secret has mode 600" test "$(stat -c %a "$DEMO_DIR/secret")" = 600
u="http://127.0.0.1:$port"

http "$u/"
expect_status "the front page is 200" 200
expect_header "the front page is HTML" Content-Type '^text/html'
expect_body_has "the front page has an <html> element" '<[hH][tT][mM][lL]'

http "$u/hello"
expect_body "/hello says hello" $'hello, world\n'

form='who=demo&n=1'
http --data "$form" "$u/form"
expect_status "POST /form is 200" 200
expect_field "/form shows the method" :method POST
expect_field "/form shows the body size" body-bytes "${#form}"

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

DEMO_PORT=$port demo start --background
if [ "$RC" -ne 0 ] && grep -qi "already running" <<<"$OUT"; then
    ok "a second start is refused: already running"
else
    fail "a second start is refused: already running" "exit $RC: $OUT"
fi

DEMO_DIR="$RUN/demo2" DEMO_PORT=$port demo start --background
if [ "$RC" -ne 0 ] && grep -qF "$port" <<<"$OUT" && grep -qi "in use" <<<"$OUT"; then
    ok "a start on a port in use is refused, naming the port"
else
    fail "a start on a port in use is refused, naming the port" "exit $RC: $OUT"
fi

demo stop
check "demo.sh stop exits 0" test "$RC" -eq 0
check "demo.sh stop stops apache2" pid_gone "$D_HTTPD"
check "demo.sh stop stops execd" pid_gone "$D_EXECD"
check_not "and the port is free again" port_open "$port"
demo stop
if [ "$RC" -eq 0 ] && grep -qi 'not running' <<<"$OUT"; then
    ok "demo.sh stop when not running says so and exits 0"
else
    fail "demo.sh stop when not running says so and exits 0" "exit $RC: $OUT"
fi

# Foreground: `make demo` runs this; Ctrl-C or SIGTERM stops both.
port=$(free_port)
DEMO_PORT=$port "$DEMO" start </dev/null >"$T_TMP/fg.out" 2>&1 &
fg=$!
track_bg "$fg"
if wait_for "$START_TIMEOUT" grep -q '^demo: running' "$T_TMP/fg.out" && demo_pids; then
    ok "demo.sh start (foreground) serves"
    check "on its port" port_open "$port"
    check "and stays in the foreground" pid_running "$fg"
    kill -TERM "$fg"
    wait_for "$STOP_TIMEOUT" pid_gone "$fg"
    check "SIGTERM to the foreground demo.sh stops apache2" wait_for "$STOP_TIMEOUT" pid_gone "$D_HTTPD"
    check "and execd" wait_for "$STOP_TIMEOUT" pid_gone "$D_EXECD"
else
    fail "demo.sh start (foreground) serves" "output: $(head -c 300 "$T_TMP/fg.out")"
fi

done_testing
