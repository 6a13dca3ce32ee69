#!/usr/bin/env bash
# scripts/demo.sh -- runs the demo: execd and an Apache (event MPM) with
# mod_slotproxy on http://127.0.0.1:${DEMO_PORT:-8080}/.
#
#   scripts/demo.sh start                 start both, stay in the foreground;
#                                         Ctrl-C (or SIGTERM) stops both
#   scripts/demo.sh start --background    start both and return
#   scripts/demo.sh stop                  stop both (make demo-stop)
#
# Everything lives in build/demo/ (or $DEMO_DIR): the two configs, the
# shared secret, the pid files, execd's UNIX socket and the logs.  Nothing
# under /etc/apache2 is read or changed, and no system service is touched.
# Processes are stopped by the pids in their pid files, never by name.
set -u

TOP=$(cd "$(dirname "$0")/.." && pwd)
DEMO_DIR=${DEMO_DIR:-$TOP/build/demo}
PORT=${DEMO_PORT:-8080}
APACHE_BIN=${APACHE_BIN:-/usr/sbin/apache2}
APACHE_MODDIR=${APACHE_MODDIR:-/usr/lib/apache2/modules}
EXECD_BIN=$TOP/build/execd
MOD_SO=$TOP/build/mod_slotproxy.so
HANDLERS=$TOP/build/handlers
CGI_DIR=$TOP/conf/demo/cgi-bin

EXECD_PIDFILE=$DEMO_DIR/execd.pid
HTTPD_PIDFILE=$DEMO_DIR/httpd.pid
SOCKET=$DEMO_DIR/execd.sock
START_WAIT=15 # seconds
STOP_WAIT=10  # seconds between SIGTERM and SIGKILL

say() { echo "demo: $*"; }
die() {
    echo "demo: $*" >&2
    exit 1
}

usage() {
    echo "usage: $0 start [--background] | stop" >&2
    exit 2
}

# pid_of PIDFILE WORD: the pid in PIDFILE, if that process runs and its
# command line contains WORD (so that a recycled pid is never signalled).
pid_of() {
    local pid
    [ -s "$1" ] || return 1
    read -r pid <"$1" || [ -n "${pid:-}" ] || return 1
    [[ $pid =~ ^[0-9]+$ ]] && running "$pid" || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2" || return 1
    echo "$pid"
}

# running PID: true while it runs (a zombie does not count).
running() {
    local line rest
    read -r line <"/proc/$1/stat" 2>/dev/null || return 1
    rest=${line##*) }
    [ "${rest%% *}" != Z ]
}

gone() {
    ! running "$1"
}

port_taken() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# wait_until SECONDS COMMAND...: polls every 0.1 s.
wait_until() {
    local n=$(($1 * 10))
    shift
    until "$@"; do
        n=$((n - 1))
        [ "$n" -gt 0 ] || return 1
        sleep 0.1
    done
}

# stop_pid PID NAME: SIGTERM, then SIGKILL after STOP_WAIT seconds.
stop_pid() {
    local pid=$1 name=$2
    kill -TERM "$pid" 2>/dev/null || return 0
    if wait_until "$STOP_WAIT" gone "$pid"; then
        say "stopped $name (pid $pid)"
    else
        kill -KILL "$pid" 2>/dev/null
        say "$name (pid $pid) did not stop in $STOP_WAIT s: killed"
    fi
}

stop_demo() {
    local hpid epid
    hpid=$(pid_of "$HTTPD_PIDFILE" apache2) || hpid=""
    epid=$(pid_of "$EXECD_PIDFILE" execd) || epid=""
    if [ -z "$hpid" ] && [ -z "$epid" ]; then
        say "not running (no live pid in $DEMO_DIR/*.pid)"
        return 0
    fi
    [ -z "$hpid" ] || stop_pid "$hpid" "apache2"
    [ -z "$epid" ] || stop_pid "$epid" "execd"
}

write_execd_conf() {
    local user_lines
    user_lines="# not started as root: the workers run as $(id -un)"
    if [ "$(id -u)" -eq 0 ]; then
        user_lines="User www-data
Group www-data"
    fi
    cat >"$DEMO_DIR/execd.conf" <<EOF
# execd for the demo -- written by scripts/demo.sh, rewritten at each start.
Listen unix:$SOCKET
Workers 4
$user_lines
SecretFile $DEMO_DIR/secret
PidFile $EXECD_PIDFILE
ErrorLog $DEMO_DIR/logs/execd-error.log
AccessLog $DEMO_DIR/logs/execd-access.log
LogLevel info

# URL prefix -> handler.  The longest matching prefix wins; "/" takes the rest.
Service /        module:$HANDLERS/demo.so    demo_handler
Service /hello   module:$HANDLERS/hello.so   hello_handler
Service /form    module:$HANDLERS/dump.so    dump_handler
Service /upload  module:$HANDLERS/upload.so  upload_handler
Service /stream  module:$HANDLERS/stream.so  stream_handler
Service /cgi/    cgi:$CGI_DIR/
EOF
}

write_httpd_conf() {
    local user_lines
    user_lines="# not started as root: the children run as $(id -un)"
    if [ "$(id -u)" -eq 0 ]; then
        user_lines="User www-data
Group www-data"
    fi
    cat >"$DEMO_DIR/httpd.conf" <<EOF
# Apache for the demo -- written by scripts/demo.sh, rewritten at each start.
# A complete configuration of its own: /etc/apache2 is not used.
ServerRoot "$DEMO_DIR"
ServerName 127.0.0.1
Listen 127.0.0.1:$PORT
PidFile "$HTTPD_PIDFILE"
DefaultRuntimeDir "$DEMO_DIR"
Mutex file:$DEMO_DIR default
ErrorLog "$DEMO_DIR/logs/error.log"
LogLevel info
$user_lines

LoadModule mpm_event_module $APACHE_MODDIR/mod_mpm_event.so
ServerLimit 4
ThreadLimit 64
ThreadsPerChild 64
MaxRequestWorkers 128

<IfModule !unixd_module>
    LoadModule unixd_module $APACHE_MODDIR/mod_unixd.so
</IfModule>
<IfModule !log_config_module>
    LoadModule log_config_module $APACHE_MODDIR/mod_log_config.so
</IfModule>
LoadModule authz_core_module $APACHE_MODDIR/mod_authz_core.so
LoadModule authn_core_module $APACHE_MODDIR/mod_authn_core.so
LoadModule mime_module $APACHE_MODDIR/mod_mime.so
TypesConfig /etc/mime.types
LogFormat "%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\"" combined
CustomLog "$DEMO_DIR/logs/access.log" combined
DocumentRoot "$DEMO_DIR/htdocs"

# mod_slotproxy: every URL goes to the execd behind the UNIX socket.
LoadModule slotproxy_module $MOD_SO
SlotProxySecretFile $DEMO_DIR/secret
SlotProxyBackend demo unix:$SOCKET
SlotProxyPass / demo
EOF
}

# The one-time files: directories (traversable by www-data), the secret.
prepare_dir() {
    mkdir -p "$DEMO_DIR/logs" "$DEMO_DIR/htdocs" || die "cannot create $DEMO_DIR"
    chmod 755 "$DEMO_DIR" "$DEMO_DIR/logs" "$DEMO_DIR/htdocs"
    if [ ! -s "$DEMO_DIR/secret" ]; then
        (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DEMO_DIR/secret") ||
            die "cannot write $DEMO_DIR/secret"
    fi
    chmod 600 "$DEMO_DIR/secret"
    rm -f "$SOCKET"
}

check_prerequisites() {
    local f
    for f in "$EXECD_BIN" "$MOD_SO" "$HANDLERS"/{demo,hello,dump,upload,stream}.so; do
        [ -f "$f" ] || die "${f#"$TOP/"} is missing: run 'make' first (or 'make demo')"
    done
    [ -d "$CGI_DIR" ] || die "${CGI_DIR#"$TOP/"} is missing"
    [ -x "$APACHE_BIN" ] ||
        die "$APACHE_BIN not found: install Apache (as root: scripts/deps.sh)"
    if ! [[ $PORT =~ ^[0-9]+$ ]] || [ "$PORT" -lt 1 ] || [ "$PORT" -gt 65535 ]; then
        die "DEMO_PORT=$PORT is not a port number"
    fi
}

show_log() {
    [ -s "$1" ] || return 0
    echo "--- last lines of $1:" >&2
    tail -n 15 "$1" >&2
}

# on_signal: Ctrl-C or SIGTERM, while starting or in the foreground.
on_signal() {
    trap - INT TERM
    [ -z "$SLEEPER" ] || kill "$SLEEPER" 2>/dev/null
    echo
    stop_demo
    exit 0
}
SLEEPER=""

start_demo() {
    local background=$1 epid hpid
    check_prerequisites
    epid=$(pid_of "$EXECD_PIDFILE" execd) || epid=""
    hpid=$(pid_of "$HTTPD_PIDFILE" apache2) || hpid=""
    if [ -n "$epid" ] || [ -n "$hpid" ]; then
        die "already running (execd ${epid:--}, apache2 ${hpid:--}); stop it with: $0 stop"
    fi
    if port_taken "$PORT"; then
        die "127.0.0.1:$PORT is already in use by another program; stop it, or pick another port: DEMO_PORT=8081 $0 start"
    fi
    trap on_signal INT TERM # from here on, an interruption stops what started
    prepare_dir
    write_execd_conf
    write_httpd_conf

    rm -f "$EXECD_PIDFILE" "$HTTPD_PIDFILE"
    # The daemons' own start-up output goes to a file, not to this
    # terminal or pipe: a daemon must not hold the caller's output open.
    if ! "$EXECD_BIN" -f "$DEMO_DIR/execd.conf" </dev/null >"$DEMO_DIR/logs/execd-start.out" 2>&1; then
        show_log "$DEMO_DIR/logs/execd-start.out"
        show_log "$DEMO_DIR/logs/execd-error.log"
        die "execd did not start (config: $DEMO_DIR/execd.conf)"
    fi
    if ! wait_until "$START_WAIT" pid_of "$EXECD_PIDFILE" execd >/dev/null ||
        ! wait_until "$START_WAIT" test -S "$SOCKET"; then
        show_log "$DEMO_DIR/logs/execd-start.out"
        show_log "$DEMO_DIR/logs/execd-error.log"
        stop_demo
        die "execd did not come up within $START_WAIT s"
    fi
    if ! "$APACHE_BIN" -f "$DEMO_DIR/httpd.conf" -k start </dev/null >"$DEMO_DIR/logs/httpd-start.out" 2>&1; then
        show_log "$DEMO_DIR/logs/httpd-start.out"
        show_log "$DEMO_DIR/logs/error.log"
        stop_demo
        die "apache2 did not start (config: $DEMO_DIR/httpd.conf)"
    fi
    if ! wait_until "$START_WAIT" pid_of "$HTTPD_PIDFILE" apache2 >/dev/null ||
        ! wait_until "$START_WAIT" port_taken "$PORT"; then
        show_log "$DEMO_DIR/logs/httpd-start.out"
        show_log "$DEMO_DIR/logs/error.log"
        stop_demo
        die "apache2 did not come up on 127.0.0.1:$PORT within $START_WAIT s"
    fi
    epid=$(pid_of "$EXECD_PIDFILE" execd)
    hpid=$(pid_of "$HTTPD_PIDFILE" apache2)

    cat <<EOF
demo: running -- execd pid $epid, apache2 pid $hpid

  http://127.0.0.1:$PORT/                front page (demo.so)
  http://127.0.0.1:$PORT/hello           hello.so
  http://127.0.0.1:$PORT/form            dump.so: shows what the handler received
  http://127.0.0.1:$PORT/upload          upload.so: POST a file, get its size and sha256
  http://127.0.0.1:$PORT/stream?lines=10&interval_ms=500
                                          stream.so: one line every half second
  http://127.0.0.1:$PORT/cgi/hello.sh    a CGI script (conf/demo/cgi-bin/)

  configs, logs, pids: ${DEMO_DIR#"$TOP/"}/
EOF
    if [ "$background" = 1 ]; then
        trap - INT TERM
        echo "  stop with: make demo-stop   (or $0 stop)"
        return 0
    fi
    echo "  stop with: Ctrl-C"
    foreground "$epid" "$hpid"
}

# foreground EXECD_PID HTTPD_PID: waits until Ctrl-C / SIGTERM, or until
# one of the two dies (then stops the other and fails).
foreground() {
    local epid=$1 hpid=$2
    while running "$epid" && running "$hpid"; do
        sleep 1 &
        SLEEPER=$!
        wait "$SLEEPER"
        SLEEPER=""
    done
    trap - INT TERM
    running "$epid" || say "execd (pid $epid) exited; see $DEMO_DIR/logs/execd-error.log"
    running "$hpid" || say "apache2 (pid $hpid) exited; see $DEMO_DIR/logs/error.log"
    stop_demo
    exit 1
}

case "${1:-}" in
start)
    case "${2:-}" in
    "") start_demo 0 ;;
    --background) start_demo 1 ;;
    *) usage ;;
    esac
    ;;
stop) stop_demo ;;
*) usage ;;
esac
