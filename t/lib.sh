# shellcheck shell=bash
# shellcheck disable=SC2034 # variables set here are read by the tests
#
# t/lib.sh -- helpers for the integration tests in t/integration/.
#
# A test is a bash script that sources this file, starts its own execd and
# Apache on free 127.0.0.1 ports, checks things with curl and ends with
# done_testing:
#
#     . "$(dirname "$0")/../lib.sh"
#     t_begin                       # run dir, traps, tools
#     need_built                    # bails unless `make all` was run
#     port=$(free_port)
#     ...
#     done_testing                  # "N passed, N failed", exit status
#
# Output: one line per check, "ok - what" or "not ok - what: why", lines
# starting with "#" are comments, and the last line is "N passed, N failed".
# t/run_tests.sh adds those lines up.
#
# Processes: every server started here is recorded by pid (with its start
# time, so a recycled pid is never signalled) and stopped at exit by that
# pid, TERM first and KILL after 10 s.  Nothing is ever stopped by name.
# Each run leaves its configs and logs in build/t-run/<test>/ (or
# $T_RUN_ROOT/<test>/) for a post-mortem; the next run of that script
# empties it, so two runs at once need different T_RUN_ROOTs.

set -u

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
B="${SP_BUILD:-$TOP/build}"  # build-san for make test SANITIZE=1
T_TOOLS="$B/t"
EXECD_BIN=${EXECD_BIN:-$B/execd}
MOD_SO="$B/mod_slotproxy.so"
HANDLERS="$B/handlers"
APACHE_BIN=${APACHE_BIN:-/usr/sbin/apache2}
APACHE_MODDIR=${APACHE_MODDIR:-/usr/lib/apache2/modules}
T_RUN_ROOT=${T_RUN_ROOT:-$B/t-run}  # where run dirs go; one run at a time per root
START_TIMEOUT=${START_TIMEOUT:-15}   # seconds for a server to come up
STOP_TIMEOUT=${STOP_TIMEOUT:-10}     # seconds between TERM and KILL
HTTP_MAX_TIME=${HTTP_MAX_TIME:-60}   # default curl --max-time

T_NAME=$(basename "$0" .sh)
T_PASS=0
T_FAIL=0
T_DONE=0
T_CTX=""          # prefix for check names, e.g. "event" inside an MPM loop
T_PIDS=()         # "pid:starttime:label" of servers, in start order
T_BG=()           # "pid:starttime" of background clients (curl &)
declare -gA T_LOG_OF=() # pid -> error log of a running server, for fail
T_CLEANUP=()      # files to remove at exit (gate files in /tmp, big files)
T_AT_EXIT=()      # commands (one word each: functions) run at exit
T_PORTS=" "       # ports handed out by free_port in this script
RUN=""
T_TMP=""

# Apache children and execd workers run as this user when started as root.
if [ "$(id -u)" -eq 0 ]; then
    RUN_USER=www-data
    RUN_GROUP=www-data
else
    RUN_USER=$(id -un)
    RUN_GROUP=$(id -gn)
fi

# ---------------------------------------------------------------------------
# Set-up and summary

# t_begin: makes the run dir build/t-run/<script>/ (sets RUN, T_TMP),
# installs the exit trap and makes sure the test tools are built.
t_begin() {
    RUN=$(make_rundir "$T_NAME") || exit 1
    T_TMP="$RUN/tmp"
    mkdir -p "$T_TMP"
    trap _t_on_exit EXIT
    trap 'exit 143' TERM
    trap 'exit 130' INT
    trap 'exit 129' HUP
    need_tool freeport || bail "cannot build $T_TOOLS/freeport"
    need_tool genpat || bail "cannot build $T_TOOLS/genpat"
    echo "# $T_NAME: run dir $RUN"
}

# need_tool NAME: builds build/t/NAME from t/tools/NAME.c if it is missing.
need_tool() {
    [ -x "$T_TOOLS/$1" ] && return 0
    make -s -C "$TOP" "build/t/$1" >&2 && [ -x "$T_TOOLS/$1" ]
}

# need_built: bails out (one failed check) unless the binaries under test
# exist.  Run `make all` first; `make test` does.
need_built() {
    local f missing=""
    for f in "$EXECD_BIN" "$MOD_SO" \
             "$HANDLERS"/{hello,echo,dump,stream,upload,gen,crash,demo}.so \
             "$APACHE_BIN"; do
        [ -f "$f" ] || missing="$missing ${f#"$TOP/"}"
    done
    command -v curl >/dev/null || missing="$missing curl"
    [ -z "$missing" ] || bail "not built or not installed:$missing (run make)"
}

# done_testing: stops every server (a server that will not stop counts as a
# failure), prints the summary line and exits 0 iff nothing failed.
done_testing() {
    _run_at_exit
    stop_all
    T_DONE=1
    echo "$T_PASS passed, $T_FAIL failed"
    [ "$T_FAIL" -eq 0 ]
    exit
}

# at_exit FUNCTION: runs it before the servers are stopped at the end
# (done_testing or an early exit), e.g. to stop what a script started.
at_exit() {
    T_AT_EXIT+=("$1")
}

_run_at_exit() {
    local f
    for f in "${T_AT_EXIT[@]}"; do
        "$f"
    done
    T_AT_EXIT=()
}

# bail WHY: the test cannot go on; records one failure and ends.
bail() {
    fail "cannot continue" "$1"
    done_testing
}

_t_on_exit() {
    local rc=$?
    trap - EXIT TERM INT HUP
    if [ "$T_DONE" -eq 0 ]; then
        echo "# $T_NAME: ended before its summary (exit status $rc)"
        _run_at_exit
        stop_all
    fi
    _stop_background
    [ ${#T_CLEANUP[@]} -eq 0 ] || rm -f -- "${T_CLEANUP[@]}"
    [ "$T_DONE" -eq 1 ] || [ "$rc" -ne 0 ] || rc=1
    exit "$rc"
}

# ---------------------------------------------------------------------------
# Checks

_ctx_name() {
    if [ -n "$T_CTX" ]; then printf '%s: %s' "$T_CTX" "$1"; else printf '%s' "$1"; fi
}

# ok NAME
ok() {
    T_PASS=$((T_PASS + 1))
    echo "ok - $(_ctx_name "$1")"
}

# fail NAME WHY: also shows the tail of every server log of this test.
fail() {
    local log
    T_FAIL=$((T_FAIL + 1))
    echo "not ok - $(_ctx_name "$1"): $2"
    for log in "${T_LOG_OF[@]}"; do
        [ -s "$log" ] || continue
        echo "#   --- last lines of ${log#"$TOP/"}"
        tail -n 8 "$log" | cut -c1-300 | sed 's/^/#   | /'
    done
}

# check NAME COMMAND...: ok if the command succeeds.
check() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else fail "$name" "failed: $*"; fi
}

# check_not NAME COMMAND...: ok if the command fails.
check_not() {
    local name=$1
    shift
    if "$@"; then fail "$name" "succeeded: $*"; else ok "$name"; fi
}

# ---------------------------------------------------------------------------
# Files, ports

# make_rundir NAME: prints build/t-run/NAME (T_RUN_ROOT/NAME) after making
# it fresh (mode 755, so that Apache children running as www-data can
# traverse it).
make_rundir() {
    local dir="$T_RUN_ROOT/$1"
    mkdir -p "$T_RUN_ROOT" || return 1
    chmod 755 "$B" "$T_RUN_ROOT" 2>/dev/null
    rm -rf -- "$dir"
    mkdir -p "$dir" && chmod 755 "$dir" && echo "$dir"
}

# write_secret FILE: 48 random hex characters, mode 600.
write_secret() {
    (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$1") &&
        chmod 600 "$1"
}

# free_port: prints a TCP port on 127.0.0.1 nobody listens on, never the
# same one twice in one script.
free_port() {
    local p
    for p in $("$T_TOOLS/freeport" 8); do
        case "$T_PORTS" in
        *" $p "*) ;;
        *)
            T_PORTS="$T_PORTS$p "
            echo "$p"
            return 0
            ;;
        esac
    done
    echo "free_port: no port" >&2
    return 1
}

# port_open PORT: true if something accepts connections on 127.0.0.1:PORT.
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# port_listening PORT: true if a socket listens on PORT (127.0.0.1 or any
# address), read from /proc/net/tcp*: unlike port_open it does not connect,
# so execd does not log a link that closed during its handshake.
port_listening() {
    local hex
    hex=$(printf '%04X' "$1")
    awk -v p=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }' \
        /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# wait_for SECONDS COMMAND...: polls the command every 50 ms until it
# succeeds (true) or the time is up (false).
wait_for() {
    local n=$(($1 * 20))
    shift
    while [ "$n" -gt 0 ]; do
        "$@" && return 0
        sleep 0.05
        n=$((n - 1))
    done
    "$@"
}

# now_ms: milliseconds since the epoch.
now_ms() {
    local ns
    ns=$(date +%s%N)
    echo $((ns / 1000000))
}

# sha_of FILE: the file's sha256, hex.
sha_of() {
    local sum
    sum=$(sha256sum <"$1") && echo "${sum%% *}"
}

# random_file FILE BYTES
random_file() {
    head -c "$2" /dev/urandom >"$1"
}

# _subst TEMPLATE NAME=VALUE...: prints the template with @NAME@ replaced.
_subst() {
    local template=$1 kv name value
    local args=()
    shift
    for kv in "$@"; do
        name=${kv%%=*}
        value=${kv#*=}
        value=${value//\\/\\\\}
        value=${value//&/\\&}
        value=${value//|/\\|}
        args+=(-e "s|@${name}@|${value}|g")
    done
    sed "${args[@]}" "$template"
}

# ---------------------------------------------------------------------------
# Processes

# _proc_stat PID: sets PS_STATE, PS_PPID, PS_START and PS_POLICY (0
# SCHED_OTHER, 3 SCHED_BATCH) from /proc/PID/stat.
_proc_stat() {
    local line rest
    local -a f
    read -r line 2>/dev/null <"/proc/$1/stat" || return 1
    rest=${line##*) }
    read -r -a f <<<"$rest"
    PS_STATE=${f[0]}
    PS_PPID=${f[1]}
    PS_START=${f[19]}
    PS_POLICY=${f[38]}
}

# sched_policy PID: the scheduling policy of that process.
sched_policy() {
    _proc_stat "$1" && echo "$PS_POLICY"
}

# pid_running PID [STARTTIME]: true while the process runs (a zombie does
# not count) and, if given, still has that start time.
pid_running() {
    _proc_stat "$1" || return 1
    [ "$PS_STATE" != Z ] || return 1
    [ -z "${2:-}" ] || [ "$PS_START" = "$2" ]
}

# children_of PID: prints "pid:starttime" of its live children.
children_of() {
    local f p
    for f in /proc/[0-9]*/stat; do
        p=${f#/proc/}
        p=${p%/stat}
        _proc_stat "$p" || continue
        [ "$PS_PPID" = "$1" ] && [ "$PS_STATE" != Z ] && echo "$p:$PS_START"
    done
}

# pid_gone PID: true if that process no longer runs (or is a zombie).
pid_gone() {
    ! pid_running "$1"
}

# record_pid PID LABEL: stop_all will stop it.
record_pid() {
    _proc_stat "$1" || return 1
    T_PIDS+=("$1:$PS_START:$2")
}

_forget_pid() {
    local e keep=()
    unset "T_LOG_OF[$1]"
    for e in "${T_PIDS[@]}"; do
        [ "${e%%:*}" = "$1" ] || keep+=("$e")
    done
    T_PIDS=("${keep[@]}")
}

# _gone PID:START... : true once none of them runs.
_gone() {
    local e
    for e in "$@"; do
        pid_running "${e%%:*}" "${e#*:}" && return 1
    done
    return 0
}

# stop_pid PID LABEL: TERM, wait up to STOP_TIMEOUT s for it and for its
# children (Apache's and execd's workers, the proxies), then KILL whatever
# is left, by pid.  Returns 1 (and says so) if anything needed KILL.
stop_pid() {
    local pid=$1 label=$2 start e left=() kids=()
    local IFS=$' \t\n'
    _forget_pid "$pid"
    _proc_stat "$pid" || return 0
    start=$PS_START
    pid_running "$pid" "$start" || return 0
    read -r -d '' -a kids < <(children_of "$pid")
    kill -TERM "$pid" 2>/dev/null
    if wait_for "$STOP_TIMEOUT" _gone "$pid:$start" "${kids[@]}"; then
        return 0
    fi
    for e in "$pid:$start" "${kids[@]}"; do
        if pid_running "${e%%:*}" "${e#*:}"; then
            left+=("${e%%:*}")
            kill -KILL "${e%%:*}" 2>/dev/null
        fi
    done
    echo "# $label: still running ${STOP_TIMEOUT} s after SIGTERM: killed pid ${left[*]}"
    return 1
}

# stop_all: stops every recorded server, the last started first.
stop_all() {
    local i e pid rest label
    for ((i = ${#T_PIDS[@]} - 1; i >= 0; i--)); do
        e=${T_PIDS[i]}
        pid=${e%%:*}
        rest=${e#*:}
        label=${rest#*:}
        pid_running "$pid" "${rest%%:*}" || continue
        stop_pid "$pid" "$label" || fail "$label stops on SIGTERM" "it had to be killed"
    done
    T_PIDS=()
}

# track_bg PID: a background client (curl &) to end at exit if still there.
track_bg() {
    _proc_stat "$1" && T_BG+=("$1:$PS_START")
}

_stop_background() {
    local e
    for e in "${T_BG[@]}"; do
        pid_running "${e%%:*}" "${e#*:}" && kill -TERM "${e%%:*}" 2>/dev/null
    done
    T_BG=()
}

# _read_pidfile FILE: prints the pid in it, if it names a live process.
_read_pidfile() {
    local pid
    [ -s "$1" ] || return 1
    read -r pid <"$1" || [ -n "${pid:-}" ] || return 1
    [[ $pid =~ ^[0-9]+$ ]] && pid_running "$pid" && echo "$pid"
}

# ---------------------------------------------------------------------------
# execd

# execd_conf FILE LISTEN [LINE...]: writes an execd config from
# conf/test/execd.conf.in, with the extra lines (more Service lines)
# appended.  LISTEN is "127.0.0.1:PORT" or "unix:/path".  The variables
# EXECD_WORKERS (4), EXECD_QUEUE (256), EXECD_TIMEOUT (60), EXECD_PREFIX
# (/app), EXECD_SECRET (secret, beside the config) and EXECD_LOGLEVEL
# (info) change the template's values.  Makes the logs/ dir beside it.
execd_conf() {
    local file=$1 listen=$2 dir user_line group_line line
    shift 2
    dir=$(dirname "$file")
    mkdir -p "$dir/logs" && chmod 755 "$dir" "$dir/logs" || return 1
    if [ "$(id -u)" -eq 0 ]; then
        user_line="User $RUN_USER"
        group_line="Group $RUN_GROUP"
    else
        user_line="# User: not root, the workers run as $(id -un)"
        group_line="# Group: not root"
    fi
    _subst "$TOP/conf/test/execd.conf.in" \
        "LISTEN=$listen" "TOP=$TOP" "HANDLERS=$HANDLERS" \
        "WORKERS=${EXECD_WORKERS:-4}" "QUEUE=${EXECD_QUEUE:-256}" \
        "TIMEOUT=${EXECD_TIMEOUT:-60}" "PREFIX=${EXECD_PREFIX:-/app}" \
        "SECRET=${EXECD_SECRET:-secret}" "LOGLEVEL=${EXECD_LOGLEVEL:-info}" \
        "USER_LINE=$user_line" "GROUP_LINE=$group_line" >"$file" || return 1
    for line in "$@"; do
        echo "$line" >>"$file"
    done
}

# _conf_values FILE DIRECTIVE: prints the first argument of every line
# "DIRECTIVE arg", relative paths made absolute (config's directory).
_conf_values() {
    local dir word arg _rest
    dir=$(dirname "$1")
    while read -r word arg _rest; do
        [ "$word" = "$2" ] || continue
        arg=${arg//\"/}
        case "$arg" in
        /* | *:*) echo "$arg" ;;
        *) echo "$dir/$arg" ;;
        esac
    done <"$1"
}

# start_execd CONF: runs `build/execd -f CONF` (it daemonizes), waits for
# its PidFile and for every Listen address to accept connections.  Sets
# EXECD_PID, EXECD_LOG (its ErrorLog), EXECD_DIR.  Returns 1 and prints
# why if it does not come up.
start_execd() {
    local conf=$1 dir pidfile log listen pid out rc
    dir=$(cd "$(dirname "$conf")" && pwd)
    pidfile=$(_conf_values "$conf" PidFile | head -n 1)
    log=$(_conf_values "$conf" ErrorLog | head -n 1)
    [ -n "$pidfile" ] || { echo "# start_execd: no PidFile in $conf"; return 1; }
    rm -f "$pidfile"
    out="$dir/execd.start.out"
    "$EXECD_BIN" -f "$conf" >"$out" 2>&1
    rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "# execd -f ${conf#"$TOP/"} exited with status $rc:"
        sed 's/^/#   /' "$out"
        return 1
    fi
    if ! wait_for "$START_TIMEOUT" _read_pidfile "$pidfile" >/dev/null; then
        echo "# execd -f ${conf#"$TOP/"}: no live pid in $pidfile after ${START_TIMEOUT} s"
        [ -z "$log" ] || tail -n 20 "$log" 2>/dev/null | sed 's/^/#   /'
        return 1
    fi
    pid=$(_read_pidfile "$pidfile")
    record_pid "$pid" "execd ${dir#"$TOP/"}"
    [ -z "$log" ] || T_LOG_OF[$pid]=$log
    EXECD_PID=$pid
    EXECD_LOG=$log
    EXECD_DIR=$dir
    for listen in $(_conf_values "$conf" Listen); do
        case "$listen" in
        unix:*) wait_for "$START_TIMEOUT" test -S "${listen#unix:}" ;;
        *) wait_for "$START_TIMEOUT" port_listening "${listen##*:}" ;;
        esac || {
            echo "# execd pid $pid: nothing accepts on $listen after ${START_TIMEOUT} s"
            return 1
        }
    done
}

# start_backend NAME [LINE...]: an execd in $RUN/NAME/ listening on a free
# port (or on EXECD_LISTEN, e.g. "unix:/path"), with the test's shared
# secret $RUN/secret (made if missing) unless EXECD_SECRET says otherwise;
# the lines are appended to its config.  Sets BACKEND_ADDR, the address
# for SlotProxyBackend ("tcp://127.0.0.1:PORT" or "unix:/path"), BACKEND_PORT
# (empty for a UNIX socket) and what start_execd sets.
start_backend() {
    local name=$1 dir listen
    shift
    dir="$RUN/$name"
    mkdir -p "$dir" && chmod 755 "$dir" || return 1
    [ -f "$RUN/secret" ] || write_secret "$RUN/secret" || return 1
    BACKEND_PORT=""
    if [ -n "${EXECD_LISTEN:-}" ]; then
        listen=$EXECD_LISTEN
    else
        BACKEND_PORT=$(free_port) || return 1
        listen="127.0.0.1:$BACKEND_PORT"
    fi
    EXECD_SECRET=${EXECD_SECRET:-$RUN/secret} execd_conf "$dir/execd.conf" "$listen" "$@" ||
        return 1
    start_execd "$dir/execd.conf" || return 1
    case "$listen" in
    unix:*) BACKEND_ADDR=$listen ;;
    *) BACKEND_ADDR="tcp://$listen" ;;
    esac
}

# ---------------------------------------------------------------------------
# Apache

# apache_conf MPM PORT SITE DIR: writes DIR/httpd.conf from
# conf/test/httpd-MPM.conf.in; SITE is the test's own part (LoadModule
# slotproxy_module, SlotProxy* directives), included at the end.
apache_conf() {
    local mpm=$1 port=$2 site=$3 dir=$4
    mkdir -p "$dir/logs" "$dir/htdocs" && chmod 755 "$dir" "$dir/logs" "$dir/htdocs" ||
        return 1
    echo "apache $mpm on $port" >"$dir/htdocs/index.html"
    chmod 644 "$dir/htdocs/index.html"
    _subst "$TOP/conf/test/httpd-$mpm.conf.in" \
        "DIR=$dir" "PORT=$port" "SITE=$site" "MODDIR=$APACHE_MODDIR" \
        "TOP=$TOP" "USER=$RUN_USER" "GROUP=$RUN_GROUP" >"$dir/httpd.conf"
}

_http_answers() {
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1") && [ "$code" != 000 ]
}

# start_apache MPM PORT SITE: starts `apache2 -f CONF -k start` with the
# MPM (event or prefork) on 127.0.0.1:PORT, CONF written by apache_conf in
# <dir of SITE>/apache-MPM-PORT/.  Waits for the pid file and for an HTTP
# answer.  Sets APACHE_PID, APACHE_DIR, APACHE_LOG (error log), APACHE_URL.
start_apache() {
    local mpm=$1 port=$2 site=$3 dir pid
    dir="$(cd "$(dirname "$site")" && pwd)/apache-$mpm-$port"
    apache_conf "$mpm" "$port" "$site" "$dir" || return 1
    if ! "$APACHE_BIN" -f "$dir/httpd.conf" -k start >"$dir/start.out" 2>&1; then
        echo "# apache2 -f ${dir#"$TOP/"}/httpd.conf -k start failed:"
        sed 's/^/#   /' "$dir/start.out"
        tail -n 20 "$dir/logs/error.log" 2>/dev/null | sed 's/^/#   /'
        return 1
    fi
    if ! wait_for "$START_TIMEOUT" _read_pidfile "$dir/httpd.pid" >/dev/null; then
        echo "# apache2 ($mpm): no live pid in $dir/httpd.pid after ${START_TIMEOUT} s"
        sed 's/^/#   /' "$dir/start.out"
        tail -n 20 "$dir/logs/error.log" 2>/dev/null | sed 's/^/#   /'
        return 1
    fi
    pid=$(_read_pidfile "$dir/httpd.pid")
    record_pid "$pid" "apache2 $mpm ${dir#"$TOP/"}"
    T_LOG_OF[$pid]="$dir/logs/error.log"
    APACHE_PID=$pid
    APACHE_DIR=$dir
    APACHE_LOG="$dir/logs/error.log"
    APACHE_URL="http://127.0.0.1:$port"
    if ! wait_for "$START_TIMEOUT" _http_answers "$APACHE_URL/"; then
        echo "# apache2 pid $pid ($mpm): no HTTP answer on port $port"
        return 1
    fi
}

# stop_apache PID: stops that Apache ("$APACHE_PID": the last started).
stop_apache() {
    stop_pid "$1" "apache2 pid $1"
}

# parallel_echo BASE N DIR MAXPAR [CURL_CONFIG_LINE...]: N requests at once
# (curl --parallel, at most MAXPAR in flight) for BASE/echo?id=1..N, each
# of which must come back as its own "id=I".  Extra arguments are curl
# config lines added to every transfer (e.g. 'http2', 'max-time = 60').
# PE_IMMEDIATE=1 opens every connection at once instead of letting curl
# wait to multiplex.  Sets PE_N200 (replies with status 200) and PE_WRONG
# (" I J ...": ids whose body was not their own); leaves DIR/codes (one
# "CODE HTTP_VERSION CONNECTS ID" line per transfer) and DIR/curl.err.
parallel_echo() {
    local base=$1 n=$2 dir=$3 maxpar=$4 i line imm=()
    shift 4
    [ "${PE_IMMEDIATE:-0}" = 1 ] && imm=(--parallel-immediate)
    mkdir -p "$dir"
    for ((i = 1; i <= n; i++)); do
        [ "$i" -eq 1 ] || echo next
        printf 'silent\nshow-error\n'
        for line in "$@"; do
            printf '%s\n' "$line"
        done
        printf 'url = "%s/echo?id=%d"\noutput = "%s/r.%d"\n' "$base" "$i" "$dir" "$i"
        printf 'write-out = "%%{http_code} %%{http_version} %%{num_connects} %d\\n"\n' "$i"
    done >"$dir/curl.cfg"
    curl --parallel --parallel-max "$maxpar" "${imm[@]}" -K "$dir/curl.cfg" \
        >"$dir/codes" 2>"$dir/curl.err"
    PE_WRONG=""
    for ((i = 1; i <= n; i++)); do
        [ "$(cat "$dir/r.$i" 2>/dev/null)" = "id=$i" ] || PE_WRONG="$PE_WRONG $i"
    done
    PE_N200=$(awk '$1 == 200' "$dir/codes" | wc -l)
}

# ---------------------------------------------------------------------------
# HTTP

# http CURL_ARGS...: one request with curl.  Sets HTTP_CODE ("000" if no
# reply), HTTP_RC (curl's exit status), HTTP_TIME (seconds), HTTP_LPORT
# (curl's local port), HTTP_SIZE (body bytes), and the files HTTP_BODY,
# HTTP_HEAD (the last header block, CRs removed), HTTP_ERR (curl's stderr).
http() {
    local w
    HTTP_BODY="$T_TMP/body"
    HTTP_HEAD="$T_TMP/head"
    HTTP_ERR="$T_TMP/curl.err"
    rm -f "$HTTP_BODY" "$HTTP_HEAD"
    w=$(curl -sS --max-time "$HTTP_MAX_TIME" -o "$HTTP_BODY" -D "$HTTP_HEAD.raw" \
        -w '%{http_code} %{time_total} %{local_port} %{size_download}' \
        "$@" 2>"$HTTP_ERR")
    HTTP_RC=$?
    read -r HTTP_CODE HTTP_TIME HTTP_LPORT HTTP_SIZE <<<"${w:-000 0 0 0}"
    touch "$HTTP_BODY"
    # Keep the last block only: a 100 Continue comes before the real head.
    tr -d '\r' <"$HTTP_HEAD.raw" 2>/dev/null |
        awk '/^HTTP\//{n=0; delete h} {h[n++]=$0} END{for(i=0;i<n;i++) print h[i]}' \
            >"$HTTP_HEAD"
    return 0
}

_http_what() {
    local err
    err=$(head -c 200 "$HTTP_ERR" 2>/dev/null | tr '\n' ' ')
    printf 'status %s, curl exit %s%s' "$HTTP_CODE" "$HTTP_RC" "${err:+ ($err)}"
}

# expect_status NAME CODE: the last reply had that status.
expect_status() {
    if [ "$HTTP_CODE" = "$2" ]; then
        ok "$1"
    else
        fail "$1" "want status $2, got $(_http_what)"
        [ -s "$HTTP_BODY" ] && head -c 300 "$HTTP_BODY" | sed 's/^/#   body| /'
        return 1
    fi
}

# expect_body NAME TEXT: the last reply's body is exactly TEXT.
expect_body() {
    if [ "$(printf '%s' "$2" | sha_of /dev/stdin)" = "$(sha_of "$HTTP_BODY")" ]; then
        ok "$1"
    else
        fail "$1" "want body $(printf '%q' "$2" | head -c 100), got $(head -c 100 "$HTTP_BODY" | od -An -c | head -n 2 | tr -s ' \n' ' ') ($(_http_what))"
        return 1
    fi
}

# expect_body_file NAME FILE: the last reply's body is that file's content.
expect_body_file() {
    if cmp -s "$2" "$HTTP_BODY"; then
        ok "$1"
    else
        fail "$1" "body differs from ${2#"$TOP/"}: $(stat -c %s "$2") bytes sent, $(stat -c %s "$HTTP_BODY") received ($(_http_what))"
        return 1
    fi
}

# expect_body_has NAME EREGEX: some line of the body matches.
expect_body_has() {
    if grep -Eq -- "$2" "$HTTP_BODY"; then
        ok "$1"
    else
        fail "$1" "no body line matches /$2/ ($(_http_what))"
        head -n 20 "$HTTP_BODY" | cut -c1-200 | sed 's/^/#   body| /'
        return 1
    fi
}

# header_values NAME [FILE]: the values of that reply header, one a line,
# from the last reply (or from a curl -D FILE).
header_values() {
    awk -v n="$1" 'BEGIN{n=tolower(n)}
        { sub(/\r$/, ""); i=index($0, ":"); if (i > 0 && tolower(substr($0, 1, i-1)) == n) {
              v=substr($0, i+1); sub(/^[ \t]+/, "", v); sub(/[ \t]+$/, "", v); print v } }' \
        "${2:-$HTTP_HEAD}"
}

# expect_header NAME HEADER EREGEX: the reply has that header with a value
# matching EREGEX (anchor it yourself).
expect_header() {
    local v
    while IFS= read -r v; do
        if [[ $v =~ $3 ]]; then
            ok "$1"
            return 0
        fi
    done < <(header_values "$2")
    fail "$1" "no header $2 matching /$3/; got: $(tr '\n' '|' <"$HTTP_HEAD" | head -c 400)"
    return 1
}

# dump_field NAME: the values dump_handler reported for field NAME
# (":method", "x-dup", ...; names compared case-insensitively).
dump_field() {
    awk -v n="$1" 'BEGIN{n=tolower(n)}
        { s=$0; sub(/\r$/, "", s); i=index(substr(s, 2), ": ");
          if (i > 0 && tolower(substr(s, 1, i)) == n) print substr(s, i+3) }' "$HTTP_BODY"
}

# expect_field NAME FIELD VALUE: dump_handler saw FIELD with exactly VALUE
# (one of its values, if repeated).
expect_field() {
    local v
    while IFS= read -r v; do
        [ "$v" = "$3" ] && { ok "$1"; return 0; }
    done < <(dump_field "$2")
    fail "$1" "want field '$2: $3', got: $(dump_field "$2" | tr '\n' '|' | head -c 200) ($(_http_what))"
    return 1
}

# ---------------------------------------------------------------------------
# Logs

# log_mark FILE: prints its current line count, for expect_log.
log_mark() {
    if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi
}

_log_has() {
    [ -f "$1" ] && tail -n "+$(($2 + 1))" "$1" | grep -Eiq -- "$3"
}

# expect_log NAME FILE MARK EREGEX: a line written to FILE after MARK
# matches (case-insensitive), within 5 s.
expect_log() {
    if wait_for 5 _log_has "$2" "$3" "$4"; then
        ok "$1"
    else
        fail "$1" "no new line in ${2#"$TOP/"} matches /$4/"
        return 1
    fi
}

# ---------------------------------------------------------------------------
# Processes of a running execd or Apache, for the fault tests

# execd_proxy_pid LOG: the execd proxy that logged "EXD0012: proxy pid N"
# last, if it still runs.
execd_proxy_pid() {
    local pid
    pid=$(grep -o 'EXD0012: proxy pid [0-9]*' "$1" 2>/dev/null | tail -n 1)
    pid=${pid##* }
    [ -n "$pid" ] && pid_running "$pid" && echo "$pid"
}

# execd_worker_pids MASTER LOG: the live children of the execd master that
# are not proxies (no "EXD0012: proxy pid N" line in LOG), one a line.
execd_worker_pids() {
    local pid stat proxies
    proxies=" $(grep -o 'EXD0012: proxy pid [0-9]*' "$2" 2>/dev/null |
        awk '{print $4}' | tr '\n' ' ') "
    # ps, not children_of: this is polled, and a scan of /proc in bash is slow.
    while read -r pid stat; do
        case "$stat" in Z*) continue ;; esac
        case "$proxies" in
        *" $pid "*) ;;
        *) echo "$pid" ;;
        esac
    done < <(ps -o pid=,stat= --ppid "$1" 2>/dev/null)
}

# slotproxy_proxy_pid ERROR_LOG: the module's proxy child of that Apache
# (the last "SPX0204: proxy child pid N" line), if it still runs.
slotproxy_proxy_pid() {
    local pid
    pid=$(grep -o 'SPX0204: proxy child pid [0-9]*' "$1" 2>/dev/null | tail -n 1)
    pid=${pid##* }
    [ -n "$pid" ] && pid_running "$pid" && echo "$pid"
}

# vmrss_kb PID: the process's resident set size in KiB (VmRSS).
vmrss_kb() {
    awk '$1 == "VmRSS:" { print $2; f = 1 } END { exit !f }' "/proc/$1/status" 2>/dev/null
}

# fd_count PID: how many file descriptors the process has open.
fd_count() {
    local fds
    fds=("/proc/$1/fd/"*)
    [ -e "${fds[0]}" ] && echo "${#fds[@]}"
}

# pid_wchan PID: the kernel function the process sleeps in ("0" if it runs),
# e.g. hrtimer_nanosleep for a handler in nanosleep(), futex_* for an idle
# execd worker waiting on its slot.
pid_wchan() {
    local w=""
    read -r w 2>/dev/null <"/proc/$1/wchan" # no newline at its end
    [ -n "$w" ] && echo "$w"
}

# http_conn_pid PORT CLIENT_PORT: the pid of the server process that holds
# the established connection 127.0.0.1:CLIENT_PORT -> 127.0.0.1:PORT
# (an Apache child), from ss -tnp.
http_conn_pid() {
    ss -Htnp state established "( sport = :$1 and dport = :$2 )" 2>/dev/null |
        grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2
}
