#!/usr/bin/env bash
# Configuration errors are refused with a message that says where:
#   build/execd -t -f FILE   exits 0 on a good file (relative paths taken
#                            from the file's directory, whatever the cwd),
#                            non-zero with "FILE:LINE: ..." on a bad one;
#   build/execd -f BAD       refuses to start;
#   build/execd -F           stays in the foreground, stops on SIGTERM;
#   apache2 -t               rejects a bad SlotProxy* directive by name.
# shellcheck source=t/lib.sh
. "$(dirname "$0")/../lib.sh"
t_begin
need_built

dir="$RUN/conf"
mkdir -p "$dir"
chmod 755 "$dir"
port=$(free_port)
execd_conf "$dir/good.conf" "127.0.0.1:$port" || bail "cannot write execd config"
write_secret "$dir/secret"
lines=$(wc -l <"$dir/good.conf")

# execd_t CONF: runs `execd -t -f CONF` from / ; sets OUT (both streams), RC.
execd_t() {
    OUT=$(cd / && "$EXECD_BIN" -t -f "$1" 2>&1)
    RC=$?
}

execd_t "$dir/good.conf"
if [ "$RC" -eq 0 ]; then
    ok "execd -t accepts the good config, relative paths and all, run from /"
else
    fail "execd -t accepts the good config, relative paths and all, run from /" "exit $RC: $OUT"
fi
check "execd -t starts nothing (no pid file)" test ! -e "$dir/execd.pid"
if port_open "$port"; then
    fail "execd -t starts nothing (port closed)" "127.0.0.1:$port accepts connections"
else
    ok "execd -t starts nothing (port closed)"
fi

# One bad line appended to the good config: the error must name that line.
bad_lines=(
    "an unknown directive|Frobnicate 1"
    "Workers that is not a number|Workers banana"
    "Workers 0|Workers 0"
    "a SlotSize that is not a size|SlotSize banana"
    "a Timeout that is not a number|Timeout soon"
    "a QueueSize that is negative|QueueSize -1"
    "a Listen with a bad port|Listen 127.0.0.1:notaport"
    "a Service without its handler symbol|Service /x module:$HANDLERS/hello.so"
    "a Service of an unknown kind|Service /x ftp:/tmp"
    "a module file that does not exist|Service /x module:$RUN/no-such.so x_handler"
    "a symbol the module does not have|Service /x module:$HANDLERS/hello.so no_such_handler"
    "a CGI target that does not exist|Service /x cgi:$RUN/no-such-dir/"
    "an unknown LogLevel|LogLevel chatty"
    "a BatchScheduling that is neither On nor Off|BatchScheduling maybe"
)
for c in "${bad_lines[@]}"; do
    what=${c%%|*}
    cp "$dir/good.conf" "$dir/bad.conf"
    echo "${c#*|}" >>"$dir/bad.conf"
    execd_t "$dir/bad.conf"
    if [ "$RC" -ne 0 ] && grep -qF "bad.conf:$((lines + 1)):" <<<"$OUT"; then
        ok "execd -t refuses $what, naming bad.conf:$((lines + 1))"
    else
        fail "execd -t refuses $what, naming bad.conf:$((lines + 1))" "exit $RC, said: $(head -c 200 <<<"$OUT")"
    fi
done

# The secret file: it must exist, be at least 16 bytes and not be readable
# by others.  The error names the SecretFile line or the secret file.
secret_line=$(grep -n '^SecretFile' "$dir/good.conf" | cut -d: -f1)
secret_case() {
    local what=$1
    sed "s|^SecretFile .*|SecretFile $dir/case-secret|" "$dir/good.conf" >"$dir/bad.conf"
    execd_t "$dir/bad.conf"
    if [ "$RC" -ne 0 ] && { grep -qF "bad.conf:$secret_line:" <<<"$OUT" ||
        grep -qF "case-secret" <<<"$OUT"; }; then
        ok "execd -t refuses $what"
    else
        fail "execd -t refuses $what" "exit $RC, said: $(head -c 200 <<<"$OUT")"
    fi
}
rm -f "$dir/case-secret"
secret_case "a secret file that does not exist"
(umask 077 && printf 'short' >"$dir/case-secret")
secret_case "a secret shorter than 16 bytes"
write_secret "$dir/case-secret"
chmod 644 "$dir/case-secret"
secret_case "a secret file readable by others"
chmod 600 "$dir/case-secret"
sed "s|^SecretFile .*|SecretFile $dir/case-secret|" "$dir/good.conf" >"$dir/ok.conf"
execd_t "$dir/ok.conf"
check "execd -t accepts the same secret with mode 600" test "$RC" -eq 0

# Without -t a bad config stops execd from starting at all.
cp "$dir/good.conf" "$dir/bad.conf"
echo "Workers banana" >>"$dir/bad.conf"
# (output to a file: a daemon that did start would hold a $(...) open)
"$EXECD_BIN" -f "$dir/bad.conf" >"$T_TMP/bad-start.out" 2>&1
rc=$?
out=$(cat "$T_TMP/bad-start.out")
if [ "$rc" -eq 0 ]; then
    pid=$(_read_pidfile "$dir/execd.pid") && record_pid "$pid" "execd with a bad config"
fi
if [ "$rc" -ne 0 ] && grep -qF "bad.conf:$((lines + 1)):" <<<"$out"; then
    ok "execd -f with a bad config refuses to start and says where"
else
    fail "execd -f with a bad config refuses to start and says where" "exit $rc, said: $(head -c 200 <<<"$out")"
fi
check "and leaves no pid file" test ! -e "$dir/execd.pid"

# -F: stays in the foreground (this shell's child), stops on SIGTERM.
"$EXECD_BIN" -F -f "$dir/good.conf" >"$T_TMP/fg.out" 2>&1 &
fg=$!
record_pid "$fg" "execd -F"
if wait_for "$START_TIMEOUT" port_open "$port"; then
    ok "execd -F listens"
    check "execd -F stays in the foreground (same pid)" pid_running "$fg"
    kill -TERM "$fg"
    if wait_for "$STOP_TIMEOUT" pid_gone "$fg"; then
        ok "execd -F stops on SIGTERM"
        wait "$fg"
        check "execd -F exits 0 after SIGTERM" test "$?" -eq 0
    else
        fail "execd -F stops on SIGTERM" "still running after $STOP_TIMEOUT s"
    fi
else
    fail "execd -F listens" "nothing on port $port; output: $(head -c 300 "$T_TMP/fg.out")"
fi

# apache2 -t with the module.
site="$RUN/site.conf"
write_secret "$RUN/secret"
write_site() {
    cat >"$site" <<EOF
LoadModule slotproxy_module $MOD_SO
SlotProxySecretFile $RUN/secret
SlotProxyBackend main tcp://127.0.0.1:$port
SlotProxyPass /app/ main
SlotProxySlotSize 64k
SlotProxyTimeout 60
$1
EOF
}
adir="$RUN/apache-t"
write_site ""
apache_conf event "$(free_port)" "$site" "$adir"
out=$("$APACHE_BIN" -t -f "$adir/httpd.conf" 2>&1)
rc=$?
if [ "$rc" -eq 0 ]; then
    ok "apache2 -t accepts a good slotproxy config"
else
    fail "apache2 -t accepts a good slotproxy config" "exit $rc: $out"
fi

bad_directives=(
    "SlotProxySlotSize banana"
    "SlotProxyTimeout banana"
    "SlotProxyBackend other"
    "SlotProxyBackend other ftp://127.0.0.1:21"
    "SlotProxyBatchScheduling maybe"
)
# apache_t_refuses NAME SAYS LINES: apache2 -t with LINES in the site
# fails and its output has SAYS.
apache_t_refuses() {
    write_site "$3"
    out=$("$APACHE_BIN" -t -f "$adir/httpd.conf" 2>&1)
    rc=$?
    if [ "$rc" -ne 0 ] && grep -qF "$2" <<<"$out"; then
        ok "$1"
    else
        fail "$1" "exit $rc: $(head -c 300 <<<"$out")"
    fi
}
for d in "${bad_directives[@]}"; do
    apache_t_refuses "apache2 -t refuses '$d', naming the directive" "${d%% *}" "$d"
done
apache_t_refuses "apache2 -t refuses SlotProxyBatchScheduling in a virtual host" \
    "SlotProxyBatchScheduling belongs in the main server" \
    "<VirtualHost 127.0.0.1:$(free_port)>
SlotProxyBatchScheduling Off
</VirtualHost>"


# The proxies' scheduling class (sp_sched.h): SCHED_BATCH (policy 3) by
# default, SCHED_OTHER (0) with the directives Off; workers and Apache's
# own children keep the default class either way.
expect_policy() { # expect_policy WHAT PID POLICY
    local got
    got=$(sched_policy "$2")
    if [ -n "$2" ] && [ "$got" = "$3" ]; then
        ok "$1 runs with scheduling policy $3"
    else
        fail "$1 runs with scheduling policy $3" "pid '${2}', policy '${got}'"
    fi
}
# first_child PPID: one live child of that process.
first_child() {
    local c
    c=$(children_of "$1" | head -n 1)
    echo "${c%%:*}"
}
for mode in on off; do
    if [ $mode = on ]; then
        start_backend "sched-$mode" || bail "execd (BatchScheduling default) did not start"
    else
        start_backend "sched-$mode" "BatchScheduling Off" || bail "execd (BatchScheduling Off) did not start"
    fi
    want=3
    [ $mode = off ] && want=0
    wait_for "$START_TIMEOUT" execd_proxy_pid "$EXECD_LOG" >/dev/null
    expect_policy "execd's proxy (BatchScheduling $mode)" "$(execd_proxy_pid "$EXECD_LOG")" $want
    w=$(execd_worker_pids "$EXECD_PID" "$EXECD_LOG" | head -n 1)
    expect_policy "an execd worker (BatchScheduling $mode)" "$w" 0

    if [ $mode = on ]; then
        write_site ""
    else
        write_site "SlotProxyBatchScheduling Off"
    fi
    sed -i "s|tcp://127.0.0.1:$port|$BACKEND_ADDR|" "$site"
    start_apache event "$(free_port)" "$site" || bail "apache (SlotProxyBatchScheduling $mode) did not start"
    wait_for "$START_TIMEOUT" slotproxy_proxy_pid "$APACHE_LOG" >/dev/null
    pc=$(slotproxy_proxy_pid "$APACHE_LOG")
    expect_policy "the module's proxy child (SlotProxyBatchScheduling $mode)" "$pc" $want
    for c in $(children_of "$APACHE_PID"); do
        c=${c%%:*}
        [ "$c" = "$pc" ] && continue
        expect_policy "an Apache child that serves requests (SlotProxyBatchScheduling $mode)" "$c" 0
        break
    done
    http "$APACHE_URL/app/hello"
    expect_status "a request goes through with SlotProxyBatchScheduling $mode" 200
    stop_apache "$APACHE_PID"
done

done_testing
