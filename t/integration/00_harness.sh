#!/usr/bin/env bash
# The harness itself, with a plain Apache (no slotproxy): ports, run dirs,
# secrets, starting Apache under each MPM and stopping it by pid, and the
# exit trap stopping what a test that died left running.  This runs before
# anything is built, so that a broken harness is never mistaken for a
# broken module.
# shellcheck source=t/lib.sh
. "$(dirname "$0")/../lib.sh"
t_begin

p1=$(free_port)
p2=$(free_port)
check "free_port prints a port number" test -n "$p1" -a "${p1//[0-9]/}" = ""
check "free_port never repeats a port in one script" test "$p1" != "$p2"
if port_open "$p1"; then
    fail "nothing listens on a free port" "127.0.0.1:$p1 accepts connections"
else
    ok "nothing listens on a free port"
fi

check "make_rundir makes a fresh directory of mode 755" \
    test "$(stat -c %a "$RUN")" = 755 -a ! -e "$RUN/stale"
write_secret "$RUN/secret"
check "write_secret makes a file of mode 600" test "$(stat -c %a "$RUN/secret")" = 600
check "write_secret writes at least 16 bytes" test "$(stat -c %s "$RUN/secret")" -ge 16
write_secret "$RUN/secret2"
check "two secrets differ" test "$(cat "$RUN/secret")" != "$(cat "$RUN/secret2")"

check "genpat writes the gen.so pattern" \
    test "$("$T_TOOLS/genpat" 5 | od -An -tu1 | tr -s ' ')" = " 7 38 69 100 131"
check "genpat writes exactly N bytes" test "$("$T_TOOLS/genpat" 1000003 | wc -c)" = 1000003

site="$RUN/site.conf"
echo "# plain Apache: no slotproxy module" >"$site"

for mpm in event prefork; do
    T_CTX=$mpm
    port=$(free_port)
    if ! start_apache "$mpm" "$port" "$site"; then
        fail "apache starts" "see above"
        continue
    fi
    ok "apache starts on 127.0.0.1:$port"
    pid=$APACHE_PID
    check "pid file names a running apache2" \
        grep -q apache2 "/proc/$pid/cmdline"
    kids=$(children_of "$pid" | wc -l)
    check "apache has children" test "$kids" -ge 1
    http "$APACHE_URL/index.html"
    expect_status "GET /index.html answers" 200
    expect_body "GET /index.html serves the instance's index.html" "apache $mpm on $port
"
    if [ "$(id -u)" -eq 0 ]; then
        kid=$(children_of "$pid" | head -n 1)
        check "children run as $RUN_USER" \
            test "$(stat -c %U "/proc/${kid%%:*}")" = "$RUN_USER"
    fi
    kid_list=$(children_of "$pid" | tr '\n' ' ')
    if stop_apache "$pid"; then ok "apache stops on SIGTERM"; else fail "apache stops on SIGTERM" "killed"; fi
    check "the apache pid is gone" pid_gone "$pid"
    # shellcheck disable=SC2086 # one word per child
    check "its children are gone" _gone $kid_list
    check_not "nothing listens on its port any more" port_open "$port"
done
T_CTX=""

# start_execd / start_backend against a stand-in for build/execd that runs
# an apache2 where the config says (Listen, PidFile, ErrorLog, relative to
# the config's directory), so the harness is checked before execd exists.
fake="$RUN/fake-execd"
cat >"$fake" <<'EOF'
#!/usr/bin/env bash
[ "$1" = -f ] || exit 2
dir=$(cd "$(dirname "$2")" && pwd)
value() { awk -v d="$1" '$1 == d { print $2; exit }' "$2"; }
listen=$(value Listen "$2")
pidfile=$(value PidFile "$2")
errlog=$(value ErrorLog "$2")
case "$pidfile" in /*) ;; *) pidfile="$dir/$pidfile" ;; esac
case "$errlog" in /*) ;; *) errlog="$dir/$errlog" ;; esac
cat >"$dir/fake-httpd.conf" <<EOC
ServerRoot "$dir"
ServerName 127.0.0.1
Listen $listen
PidFile "$pidfile"
DefaultRuntimeDir "$dir"
Mutex file:$dir default
ErrorLog "$errlog"
LoadModule mpm_prefork_module /usr/lib/apache2/modules/mod_mpm_prefork.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
StartServers 1
EOC
exec /usr/sbin/apache2 -f "$dir/fake-httpd.conf" -k start
EOF
chmod 755 "$fake"
if EXECD_BIN=$fake start_backend fake "Service /extra cgi:/tmp"; then
    ok "start_backend starts an execd (stand-in) and waits for its port"
    conf="$RUN/fake/execd.conf"
    check "its config lists the example handlers" \
        grep -Eq "^Service /app/hello +module:$HANDLERS/hello.so +hello_handler$" "$conf"
    check "its config ends with the extra lines" test "$(tail -n 1 "$conf")" = "Service /extra cgi:/tmp"
    check "its config uses the shared secret" grep -q "^SecretFile $RUN/secret$" "$conf"
    check "BACKEND_ADDR is tcp://127.0.0.1:PORT" test "$BACKEND_ADDR" = "tcp://127.0.0.1:$BACKEND_PORT"
    check "EXECD_PID comes from the relative PidFile" \
        test "$EXECD_PID" = "$(cat "$RUN/fake/execd.pid")"
    check "EXECD_LOG is the relative ErrorLog" test "$EXECD_LOG" = "$RUN/fake/logs/error.log"
    check "its port accepts connections" port_open "$BACKEND_PORT"
    fpid=$EXECD_PID
    check "stop_pid stops it" stop_pid "$fpid" "fake execd"
    check "and it is gone" pid_gone "$fpid"
else
    fail "start_backend starts an execd (stand-in) and waits for its port" "see above"
fi
if EXECD_BIN=/bin/false start_execd "$RUN/fake/execd.conf" >"$T_TMP/false.out"; then
    fail "start_execd reports an execd that exits non-zero" "it returned success"
else
    check "start_execd reports an execd that exits non-zero" grep -q "exited with status 1" "$T_TMP/false.out"
fi

# A test that dies half-way: its exit trap must stop the Apache it started.
child="$RUN/dying-test.sh"
cat >"$child" <<EOF
#!/usr/bin/env bash
. "$TOP/t/lib.sh"
t_begin >/dev/null
start_apache event "$(free_port)" "$site" >/dev/null || exit 7
echo "\$APACHE_PID" >"$RUN/dying.pid"
exit 3
EOF
out=$(bash "$child" 2>&1)
rc=$?
check "a test dying half-way exits non-zero" test "$rc" -eq 3
dpid=$(cat "$RUN/dying.pid" 2>/dev/null)
check "it started an apache" test -n "$dpid"
check "its exit trap stopped that apache" pid_gone "${dpid:-0}"
if grep -q "ended before its summary" <<<"$out"; then
    ok "it says it ended before its summary"
else
    fail "it says it ended before its summary" "output: $out"
fi

done_testing
