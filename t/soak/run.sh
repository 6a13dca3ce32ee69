#!/usr/bin/env bash
# t/soak/run.sh -- the soak test behind `make soak` (not part of make test).
#
# Starts one execd (Workers 6, MaxRequestsPerWorker 500, Timeout 5,
# QueueSize 512) and one Apache (event MPM, ThreadsPerChild 64, ServerLimit
# 4) on free ports of 127.0.0.1, then for SOAK_SECONDS runs mixed traffic
# from SOAK_CLIENTS background loops (bash + curl), each request checked:
#
#   hello    GET /app/hello                    body exactly "hello, world\n"
#   echo     POST /app/echo?id=X, 0..2 MiB     sha256 of the reply = of the body,
#            (a pool of random files)          X-Request-Id: X ("id=X\n" if empty)
#   gen      GET /app/gen?bytes=N, 0..2 MiB    N bytes of gen.so's pattern
#   stream   GET /app/stream?lines=L&...       "line 1\n" .. "line L\n"
#   cgi      GET /app/cgi/hello.sh             conf/demo/cgi-bin/hello.sh's page
#
# After SOAK_WARMUP seconds it injects a fault every 5-15 s, the kinds in
# shuffled rounds so that each comes up as often as the others:
#
#   kill_worker   kill -9 of a random execd worker (a child of execd's
#                 master that no "EXD0012: proxy pid N" line names; half
#                 of the time one that is visibly busy with a request)
#   kill_proxy    kill -9 of the module's proxy child (the latest
#                 "SPX0204: proxy child pid N" of Apache's error log)
#   graceful      apache2 -f CONF -k graceful
#   reload        kill -HUP of execd's master
#   crash         a request to crash_handler (half of them ?after_head=1)
#   disconnect    curl -m 0.5 on a 10 s stream: the client goes away
#
# Every request is logged (start and end in ms, kind, status, curl exit,
# body verdict), every fault too (start and end in ms, kind, outcome).  The
# report then gives the requests sent, succeeded (2xx, complete, right
# body) and failed by status and curl exit, and matches each failure with
# the faults: a failure lines up with a fault if the request was in flight
# when it happened or ran within WINDOW_MS after it.  Only kill_worker and
# kill_proxy may fail requests (README "Restarts, reloads and faults");
# one killed worker fails at most the one request it was running; graceful,
# reload, a crash request and a client going away fail nothing else; a
# reply with status 2xx, a clean curl exit and a wrong body is a silent
# corruption whatever happened around it.  Each failure that does not line
# up is listed with the log lines of both sides around it: those are bugs.
#
# RSS (VmRSS) and open fds of every Apache and execd process are sampled
# before the traffic ("idle"), after the warm-up ("warm") and at the end,
# once the traffic stopped and old generations are gone ("end"); processes
# replaced by faults have new pids, so they are compared by role (for
# roles with several processes, the maximum).  A role whose private RSS
# (VmRSS - RssShmem: the shared slot tables become resident page by page
# as slots get used, which is no leak) grew by more than RSS_LIMIT_KB, or
# whose fds grew by more than FD_LIMIT, from warm to end is flagged (from
# idle, the warm-up of thread stacks, pools and allocators would count as
# growth); so is a process of an old generation still running at the end.
#
# Output: the report, then "ok"/"not ok" lines and "N passed, N failed";
# exit status 0 iff every failure lines up with a fault and nothing grew.
# Files stay in build/soak-run/soak/ (T_RUN_ROOT/soak): requests.all,
# faults.log, procs.*, the configs and the logs of both servers.
#
# Environment (defaults in brackets):
#   SOAK_SECONDS  [180]  seconds of traffic, warm-up included
#   SOAK_WARMUP   [10]   seconds of traffic before the first fault
#   SOAK_CLIENTS  [6]    client loops
#   SOAK_SEED     [random] seed of the clients' and the faults' choices
#
# Servers are recorded by pid and stopped by pid (t/lib.sh); nothing is
# ever signalled by name.
set -u
export LC_ALL=C

TOP=$(cd "$(dirname "$0")/../.." && pwd)
T_RUN_ROOT=${T_RUN_ROOT:-${SP_BUILD:-$TOP/build}/soak-run}
# shellcheck source=SCRIPTDIR/../lib.sh
. "$TOP/t/lib.sh"
T_NAME=soak

SOAK_SECONDS=${SOAK_SECONDS:-180}
SOAK_WARMUP=${SOAK_WARMUP:-10}
SOAK_CLIENTS=${SOAK_CLIENTS:-6}
SOAK_SEED=${SOAK_SEED:-$(((RANDOM << 15) | RANDOM))}
FAULT_MIN=5          # seconds between faults: FAULT_MIN..FAULT_MAX
FAULT_MAX=15
WINDOW_MS=2000       # a failure this long after a fault still lines up
RSS_LIMIT_KB=20480   # 20 MiB
FD_LIMIT=20
BODY_MAX=2097152     # echo and gen sizes: 0..2 MiB
ECHO_POOL=32         # random bodies for echo
REQ_MAX_TIME=60      # curl --max-time of a traffic request
SETTLE_MAX=30        # seconds for old generations to go at the end
WORKERS=6

for v in SOAK_SECONDS SOAK_WARMUP SOAK_CLIENTS SOAK_SEED; do
    [[ ${!v} =~ ^[0-9]+$ ]] || { echo "soak: $v must be a number"; exit 2; }
done

# tnow: NOW = milliseconds since the epoch (no fork).
tnow() {
    local t=${EPOCHREALTIME/./}
    NOW=$((t / 1000))
}

# rand_upto N: R = a random number 0..N (30 bits of RANDOM).
rand_upto() {
    R=$((((RANDOM << 15) | RANDOM) % ($1 + 1)))
}

t_begin
need_built
STOP="$RUN/stop"
rm -f "$STOP"

# ---------------------------------------------------------------------------
# Servers

EXECD_WORKERS=$WORKERS EXECD_QUEUE=512 EXECD_TIMEOUT=5 start_backend execd \
    "MaxRequestsPerWorker 500" \
    "Service /app/cgi/ cgi:$TOP/conf/demo/cgi-bin/" ||
    bail "execd did not start"

cat >"$RUN/site.conf" <<EOF
LoadModule slotproxy_module $MOD_SO
SlotProxySecretFile $RUN/secret
SlotProxyBackend main $BACKEND_ADDR
SlotProxyPass /app/ main
# The soak's own access log: end time in ms, duration in us, the soak id.
LogFormat "%{msec}t %D %>s %B %{remote}p \"%r\" %{X-Soak-Id}i" soakms
CustomLog "$RUN/access-ms.log" soakms
EOF
port=$(free_port) || bail "no free port"
start_apache event "$port" "$RUN/site.conf" || bail "apache (event) did not start"
U=$APACHE_URL
APACHE_CONF="$APACHE_DIR/httpd.conf"

echo "# soak: execd pid $EXECD_PID ($BACKEND_ADDR), apache event pid $APACHE_PID ($U)"
echo "# soak: ${SOAK_SECONDS} s of traffic (${SOAK_WARMUP} s warm-up), $SOAK_CLIENTS clients, seed $SOAK_SEED"

# ---------------------------------------------------------------------------
# Test data: random echo bodies with their sha256, gen.so's pattern.

POOL_FILE=()
POOL_SIZE=()
POOL_SHA=()
RANDOM=$SOAK_SEED
mkdir -p "$T_TMP/pool"
for ((i = 0; i < ECHO_POOL; i++)); do
    case $i in
    0) size=0 ;;
    1) size=1 ;;
    2) size=65536 ;;
    3) size=65537 ;;
    4) size=$BODY_MAX ;;
    *) rand_upto "$BODY_MAX"; size=$R ;;
    esac
    f="$T_TMP/pool/b$i"
    random_file "$f" "$size" || bail "cannot write $f"
    POOL_FILE+=("$f")
    POOL_SIZE+=("$size")
    POOL_SHA+=("$(sha_of "$f")")
done
PATTERN="$T_TMP/pattern"
"$T_TOOLS/genpat" "$BODY_MAX" >"$PATTERN" || bail "genpat failed"

# ---------------------------------------------------------------------------
# Processes and their memory

# log_pids FILE EREGEX FIELD: the pids named on matching log lines, in order.
log_pids() {
    grep -oE -- "$2" "$1" 2>/dev/null | awk -v f="$3" '{ print $f }'
}

# proc_line ROLE PID: "ROLE PID VMRSS_KB RSSSHMEM_KB FDS", if the process
# still runs.
proc_line() {
    local rss="" shm=0 key val _unit fds
    [ -r "/proc/$2/status" ] || return 0
    while read -r key val _unit; do
        case $key in
        VmRSS:) rss=$val ;;
        RssShmem:) shm=$val ;;
        esac
    done <"/proc/$2/status" 2>/dev/null
    fds=("/proc/$2/fd/"*)
    [ -e "${fds[0]}" ] || fds=()
    [ -n "$rss" ] && echo "$1 $2 $rss $shm ${#fds[@]}"
}

# sample_procs FILE: one line per Apache and execd process, by role.
sample_procs() {
    local out=$1 e p spx exd spx_last exd_last
    spx=$(log_pids "$APACHE_LOG" 'SPX0204: proxy child pid [0-9]+' 5 | tr '\n' ' ')
    exd=$(log_pids "$EXECD_LOG" 'EXD0012: proxy pid [0-9]+' 4 | tr '\n' ' ')
    spx_last=$(log_pids "$APACHE_LOG" 'SPX0204: proxy child pid [0-9]+' 5 | tail -n 1)
    exd_last=$(log_pids "$EXECD_LOG" 'EXD0012: proxy pid [0-9]+' 4 | tail -n 1)
    {
        proc_line apache-parent "$APACHE_PID"
        for e in $(children_of "$APACHE_PID"); do
            p=${e%%:*}
            if [ "$p" = "$spx_last" ]; then
                proc_line apache-proxy-child "$p"
            elif [[ " $spx " == *" $p "* ]]; then
                proc_line apache-proxy-child-old "$p"
            else
                proc_line apache-child "$p"
            fi
        done
        proc_line execd-master "$EXECD_PID"
        for e in $(children_of "$EXECD_PID"); do
            p=${e%%:*}
            if [ "$p" = "$exd_last" ]; then
                proc_line execd-proxy "$p"
            elif [[ " $exd " == *" $p "* ]]; then
                proc_line execd-proxy-old "$p"
            else
                proc_line execd-worker "$p"
            fi
        done
    } >"$out"
}

# settled: true once one proxy child, one execd proxy and WORKERS workers
# remain (old generations gone).
# shellcheck disable=SC2317 # called through wait_for
settled() {
    sample_procs "$RUN/procs.settle"
    awk -v w="$WORKERS" '{ n[$1]++ }
        END { exit !(n["apache-proxy-child"] == 1 && n["apache-proxy-child-old"] == 0 &&
                     n["execd-proxy"] == 1 && n["execd-proxy-old"] == 0 &&
                     n["execd-worker"] == w) }' "$RUN/procs.settle"
}

# ---------------------------------------------------------------------------
# Traffic

# client_loop ID: requests until $STOP exists, one line each in
# $RUN/requests.ID: "START END cID KIND STATUS CURL_EXIT VERDICT SOAK_ID
# LOCAL_PORT DETAIL" (times in ms; the port is in Apache's log lines).
client_loop() {
    local id=$1 fd n=0 r kind url detail sid t0 t1 w code size lport rc verdict
    local got want i lines interval err line
    local body="$T_TMP/c$id.body" head="$T_TMP/c$id.head" errf="$T_TMP/c$id.err"
    local args=()
    RANDOM=$((SOAK_SEED + id * 7919))
    exec {fd}>>"$RUN/requests.$id"
    while [ ! -e "$STOP" ]; do
        n=$((n + 1))
        sid="c$id-$n"
        r=$((RANDOM % 100))
        args=()
        if ((r < 30)); then
            kind=hello url="$U/app/hello" detail=-
        elif ((r < 50)); then
            kind="echo"
            i=$((RANDOM % ECHO_POOL))
            url="$U/app/echo?id=$sid" detail="bytes=${POOL_SIZE[i]}"
            args=(--data-binary "@${POOL_FILE[i]}" -H 'Content-Type: application/octet-stream')
        elif ((r < 72)); then
            kind=gen
            rand_upto "$BODY_MAX"
            url="$U/app/gen?bytes=$R" detail="bytes=$R"
        elif ((r < 90)); then
            kind=stream
            lines=$((1 + RANDOM % 30)) interval=$((RANDOM % 40))
            url="$U/app/stream?lines=$lines&interval_ms=$interval" detail="lines=$lines,interval_ms=$interval"
        else
            kind=cgi url="$U/app/cgi/hello.sh" detail=-
        fi
        rm -f "$body" "$head"
        tnow
        t0=$NOW
        w=$(curl -sS --max-time "$REQ_MAX_TIME" -o "$body" -D "$head" -H "X-Soak-Id: $sid" \
            -w '%{http_code} %{local_port} %{size_download}' "${args[@]}" "$url" 2>"$errf")
        rc=$?
        tnow
        t1=$NOW
        w=${w:-000 0 0}
        code=${w%% *} size=${w##* } lport=${w#* }
        lport=${lport%% *}
        verdict=-
        if [ "$rc" -eq 0 ] && [[ $code == 2* ]]; then
            verdict=bad
            got=""
            [ -f "$body" ] && IFS= read -r -d '' got <"$body"
            case $kind in
            hello)
                [ "$got" = $'hello, world\n' ] && verdict=ok
                ;;
            echo)
                if [ "${POOL_SIZE[i]}" -eq 0 ]; then
                    [ "$got" = "id=$sid"$'\n' ] && verdict=ok
                elif [ "$size" = "${POOL_SIZE[i]}" ]; then
                    w=$(sha256sum <"$body")
                    if [ "${w%% *}" = "${POOL_SHA[i]}" ]; then
                        while IFS= read -r line; do
                            line=${line%$'\r'}
                            [ "${line,,}" = "x-request-id: $sid" ] && verdict=ok
                        done <"$head"
                        [ "$verdict" = ok ] || detail="$detail,no-x-request-id"
                    fi
                fi
                ;;
            gen)
                want=${detail#bytes=}
                if [ "$size" = "$want" ] && [ -f "$body" ]; then
                    if [ "$want" -eq 0 ] || cmp -s -n "$want" "$body" "$PATTERN"; then
                        verdict=ok
                    fi
                fi
                ;;
            stream)
                want=""
                for ((i = 1; i <= lines; i++)); do
                    want+="line $i"$'\n'
                done
                [ "$got" = "$want" ] && verdict=ok
                ;;
            cgi)
                [[ $got == *'<h1>Hello from a CGI shell script</h1>'* && $got == *$'</html>\n' ]] &&
                    verdict=ok
                ;;
            esac
            [ "$verdict" = ok ] || detail="$detail,got=${size}B"
        fi
        err=""
        if [ "$rc" -ne 0 ] && [ -s "$errf" ]; then
            IFS= read -r err <"$errf"
        fi
        printf '%s %s c%s %s %s %s %s %s %s %s %s\n' "$t0" "$t1" "$id" "$kind" "$code" "$rc" \
            "$verdict" "$sid" "$lport" "$detail" "$err" >&"$fd"
    done
    exec {fd}>&-
}

# ---------------------------------------------------------------------------
# Faults: one line each in $RUN/faults.log:
# "START END KIND STATUS EXIT DETAIL" (STATUS "-" unless it was a request).

FAULT_LOG="$RUN/faults.log"
: >"$FAULT_LOG"
FAULT_KINDS=(kill_worker kill_proxy graceful reload crash disconnect)

fault_log() {
    echo "$*" >>"$FAULT_LOG"
}

# A worker is visibly busy if it runs or is in a system call other than
# futex (202 on x86-64: how it waits for a request, and also for body bytes
# or room mid-request): sleeping in a stream, writing, waiting for its CGI
# program.  Half of the kills pick among those, so that more of them hit a
# request; the others pick any worker.
fault_kill_worker() {
    local exd e p sc _rest cands=() busy=() pick which t0 rc
    exd=" $(log_pids "$EXECD_LOG" 'EXD0012: proxy pid [0-9]+' 4 | tr '\n' ' ') "
    for e in $(children_of "$EXECD_PID"); do
        p=${e%%:*}
        [[ $exd == *" $p "* ]] && continue
        cands+=("$p")
        sc=202
        read -r sc _rest <"/proc/$p/syscall" 2>/dev/null
        [ "$sc" != 202 ] && busy+=("$p")
    done
    tnow
    if [ ${#cands[@]} -eq 0 ]; then
        fault_log "$NOW $NOW skipped - - kill_worker: no worker found"
        return
    fi
    if ((RANDOM % 2)) && [ ${#busy[@]} -gt 0 ]; then
        pick=("${busy[@]}") which="busy"
    else
        pick=("${cands[@]}") which="any"
    fi
    p=${pick[RANDOM % ${#pick[@]}]}
    t0=$NOW
    kill -KILL "$p" 2>/dev/null
    rc=$?
    tnow
    fault_log "$t0 $NOW kill_worker - $rc execd worker pid $p ($which: ${#busy[@]} busy of ${#cands[@]})"
}

fault_kill_proxy() {
    local p t0 rc
    p=$(log_pids "$APACHE_LOG" 'SPX0204: proxy child pid [0-9]+' 5 | tail -n 1)
    tnow
    if [ -z "$p" ] || ! _proc_stat "$p" || [ "$PS_PPID" != "$APACHE_PID" ] || [ "$PS_STATE" = Z ]; then
        fault_log "$NOW $NOW skipped - - kill_proxy: no live proxy child (latest SPX0204 pid '${p}')"
        return
    fi
    t0=$NOW
    kill -KILL "$p" 2>/dev/null
    rc=$?
    tnow
    fault_log "$t0 $NOW kill_proxy - $rc apache proxy child pid $p"
}

fault_graceful() {
    local t0 rc
    tnow
    t0=$NOW
    "$APACHE_BIN" -f "$APACHE_CONF" -k graceful >>"$RUN/graceful.out" 2>&1
    rc=$?
    tnow
    fault_log "$t0 $NOW graceful - $rc apache2 -k graceful"
}

fault_reload() {
    local t0 rc
    tnow
    t0=$NOW
    kill -HUP "$EXECD_PID" 2>/dev/null
    rc=$?
    tnow
    fault_log "$t0 $NOW reload - $rc kill -HUP execd master pid $EXECD_PID"
}

fault_crash() {
    local t0 w rc q=""
    ((RANDOM % 2)) && q="?after_head=1"
    tnow
    t0=$NOW
    w=$(curl -sS --max-time 30 -o /dev/null -H "X-Soak-Id: crash-$t0" -w '%{http_code}' \
        "$U/app/crash$q" 2>/dev/null)
    rc=$?
    tnow
    fault_log "$t0 $NOW crash ${w:-000} $rc GET /app/crash$q"
}

fault_disconnect() {
    local t0 w rc
    tnow
    t0=$NOW
    w=$(curl -sS --max-time 0.5 -o /dev/null -H "X-Soak-Id: disconnect-$t0" -w '%{http_code}' \
        "$U/app/stream?lines=200&interval_ms=50" 2>/dev/null)
    rc=$?
    tnow
    fault_log "$t0 $NOW disconnect ${w:-000} $rc curl -m 0.5 GET /app/stream?lines=200&interval_ms=50"
}

# inject_faults UNTIL_MS: a fault every FAULT_MIN..FAULT_MAX s, kinds in
# shuffled rounds, none starting after UNTIL_MS.
inject_faults() {
    local until=$1 order=() i j tmp k
    while :; do
        sleep $((FAULT_MIN + RANDOM % (FAULT_MAX - FAULT_MIN + 1)))
        tnow
        [ "$NOW" -lt "$until" ] || break
        if [ ${#order[@]} -eq 0 ]; then
            order=("${FAULT_KINDS[@]}")
            for ((i = ${#order[@]} - 1; i > 0; i--)); do
                j=$((RANDOM % (i + 1)))
                tmp=${order[i]} order[i]=${order[j]} order[j]=$tmp
            done
        fi
        k=${order[0]}
        order=("${order[@]:1}")
        case $k in
        kill_worker) fault_kill_worker ;;
        kill_proxy) fault_kill_proxy ;;
        graceful) fault_graceful ;;
        reload) fault_reload ;;
        crash) fault_crash ;;
        disconnect) fault_disconnect ;;
        esac
        echo "# soak: +$(((NOW - START_MS) / 1000)) s $(tail -n 1 "$FAULT_LOG" | cut -d' ' -f3-)"
    done
}

# ---------------------------------------------------------------------------
# Run

sample_procs "$RUN/procs.idle"
RANDOM=$SOAK_SEED
tnow
START_MS=$NOW
END_MS=$((START_MS + SOAK_SECONDS * 1000))
CLIENT_PIDS=()
for ((c = 1; c <= SOAK_CLIENTS; c++)); do
    client_loop "$c" &
    CLIENT_PIDS+=("$!")
    track_bg "$!"
done
sleep "$SOAK_WARMUP"
sample_procs "$RUN/procs.warm"
inject_faults $((END_MS - 5000))
tnow
[ "$NOW" -ge "$END_MS" ] || sleep "$(((END_MS - NOW) / 1000)).$(((END_MS - NOW) % 1000 / 100))"
touch "$STOP"
wait "${CLIENT_PIDS[@]}"
tnow
STOPPED_MS=$NOW
if wait_for "$SETTLE_MAX" settled; then SETTLED=1; else SETTLED=0; fi
sample_procs "$RUN/procs.end"
cat "$RUN"/requests.[0-9]* | sort -n -k1,1 >"$RUN/requests.all"
T_LOG_OF=() # the report shows the log lines that matter; fail need not

# ---------------------------------------------------------------------------
# Report

# Matches failures with faults; writes the report to stdout and
# "KEY VALUE" results to $RUN/results, failures that are bugs to $RUN/bugs.
analyse() {
    awk -v base="$START_MS" -v W="$WINDOW_MS" -v faultfile="$FAULT_LOG" \
        -v results="$RUN/results" -v bugs="$RUN/bugs" -v secs="$SOAK_SECONDS" '
    function rel(t) { return sprintf("+%6.1f s", (t - base) / 1000) }
    function rest(k,   s, i) { s = ""; for (i = k; i <= NF; i++) s = s (i > k ? " " : "") $i; return s }
    FILENAME == faultfile {
        nf++; ft0[nf] = $1; ft1[nf] = $2; fk[nf] = $3; fcode[nf] = $4; frc[nf] = $5
        fdet[nf] = rest(6); fcount[nf] = 0
        next
    }
    {
        n++; s = $1; e = $2; kind = $4; code = $5; rc = $6; v = $7
        sent[kind]++
        if (!(kind in seen)) { seen[kind] = 1; kinds[++nk] = kind }
        if (code ~ /^2/ && rc == 0 && v == "ok") { nok++; okk[kind]++; next }
        nfail++
        key = "status " code ", curl exit " rc (v == "bad" ? ", wrong body" : "")
        if (!(key in bykey)) keys[++nkeys] = key
        bykey[key]++
        best = 0; bestrank = 0
        for (i = 1; i <= nf; i++) {
            if (fk[i] == "skipped") continue
            if (s > ft1[i] + W || e < ft0[i]) continue
            dis = (fk[i] == "kill_worker" || fk[i] == "kill_proxy")
            infl = (s <= ft1[i] && e >= ft0[i])
            rank = dis * 2 + infl + 1
            if (rank > bestrank) { bestrank = rank; best = i }
        }
        why = ""
        if (best > 0) {
            if (s <= ft1[best] && e >= ft0[best]) how = "in flight at " fk[best]
            else how = sprintf("%d ms after %s", s - ft1[best], fk[best])
            how = how " " rel(ft0[best])
        } else how = "no fault within " W " ms"
        if (code ~ /^2/ && rc == 0 && v == "bad") why = "silently wrong body (status " code ", clean end)"
        else if (best == 0) why = "no injected fault around it"
        else if (bestrank <= 2) why = fk[best] " should fail nothing"
        else {
            fcount[best]++
            if (fk[best] == "kill_worker" && fcount[best] > 1)
                why = "one killed worker, " fcount[best] " failures"
        }
        line = sprintf("%s %-6s %-9s status %s curl %-2s body %-3s %-24s %s", rel(s), kind, $8, code, rc, v, rest(10), how)
        if (length(line) > 230) line = substr(line, 1, 230) "..."
        fl[nfail] = line
        fbug[nfail] = why
        if (why != "") { nbug++; print s, e, $8, $9, why > bugs }
    }
    END {
        printf "requests sent:      %d in %d s (%.1f/s), by kind:", n, secs, n / secs
        for (i = 1; i <= nk; i++) printf " %s %d", kinds[i], sent[kinds[i]]
        printf "\n"
        printf "succeeded:          %d (2xx, complete, body verified), by kind:", nok
        for (i = 1; i <= nk; i++) printf " %s %d", kinds[i], okk[kinds[i]] + 0
        printf "\n"
        printf "failed:             %d\n", nfail
        for (i = 1; i <= nkeys; i++) printf "  %5d  %s\n", bykey[keys[i]], keys[i]
        printf "  lined up with a fault: %d, NOT lined up (bugs): %d\n", nfail - nbug, nbug

        printf "\ninjected faults:    %d\n", nf
        ncrash = 0; ncrash_ok = 0; ndisc = 0; ndisc_ok = 0; nfbad = 0
        for (i = 1; i <= nf; i++) {
            k = fk[i]; note = ""
            if (k == "crash") {
                ncrash++
                after = (fdet[i] ~ /after_head/)
                if ((!after && fcode[i] == 502 && frc[i] == 0) || (after && (frc[i] == 18 || frc[i] == 56))) {
                    ncrash_ok++; note = "expected"
                } else { nfbad++; note = "UNEXPECTED" }
                note = sprintf("status %s, curl exit %s: %s", fcode[i], frc[i], note)
            } else if (k == "disconnect") {
                ndisc++
                if (frc[i] == 28) { ndisc_ok++; note = "client gave up (curl exit 28): expected" }
                else { nfbad++; note = sprintf("status %s, curl exit %s: UNEXPECTED", fcode[i], frc[i]) }
            } else if (k == "skipped") {
                note = "(skipped)"
            } else {
                if (frc[i] != 0) note = "command exit " frc[i] "; "
                note = note fcount[i] " failure(s) attributed"
            }
            printf "  %s  %-11s %-52s %s\n", rel(ft0[i]), k, substr(fdet[i], 1, 52), note
        }
        printf "expected by design: crash requests %d/%d as expected (502, or a cut body with ?after_head=1); client disconnects %d/%d ended by the client\n", ncrash_ok, ncrash, ndisc_ok, ndisc

        printf "\nfailures (time from the start of the traffic):\n"
        if (nfail == 0) printf "  none\n"
        for (i = 1; i <= nfail; i++) printf "  %s%s\n", fl[i], fbug[i] != "" ? "  <-- NOT LINED UP: " fbug[i] : ""
        printf "\nfailures that do NOT line up with a fault (bugs): %d\n", nbug

        print "sent", n + 0 >> results
        print "ok", nok + 0 >> results
        print "failed", nfail + 0 >> results
        print "bugs", nbug + 0 >> results
        print "fault_requests_bad", nfbad + 0 >> results
        print "faults", nf + 0 >> results
        for (i = 1; i <= nk; i++) print "ok_" kinds[i], okk[kinds[i]] + 0 >> results
    }' "$FAULT_LOG" "$RUN/requests.all"
}

# proc_table: RSS and fds by role, idle / warm / end; writes "leaks N".
# VmRSS counts the pages of the shared slot tables a process has touched
# (RssShmem), which grows as more slots get used without anything leaking:
# the growth that is flagged is that of VmRSS - RssShmem ("private").
proc_table() {
    awk -v lim_kb="$RSS_LIMIT_KB" -v lim_fd="$FD_LIMIT" -v results="$RUN/results" '
    FNR == 1 { ph = FILENAME; sub(/.*procs\./, "", ph) }
    {
        r = $1
        if (!(r in seen)) { seen[r] = 1; roles[++nr] = r }
        k = r SUBSEP ph
        cnt[k]++
        if ($3 > rss[k]) rss[k] = $3
        if ($4 > shm[k]) shm[k] = $4
        if ($3 - $4 > prv[k]) prv[k] = $3 - $4
        if ($5 > fds[k]) fds[k] = $5
        pids[k] = pids[k] (pids[k] == "" ? "" : ",") $2
    }
    function v(a, k) { return cnt[k] ? a[k] : "-" }
    END {
        printf "%-22s %-13s | %-26s | %-6s | %-17s | %-21s |\n", "", "processes", "VmRSS kB", "shm kB", "private kB", "open fds"
        printf "%-22s %-13s | %8s %8s %8s | %6s | %8s %8s | %4s %4s %4s %5s |\n", "role", "idle/warm/end", "idle", "warm", "end", "end", "end", "growth", "idle", "warm", "end", "grow"
        for (i = 1; i <= nr; i++) {
            r = roles[i]; i_ = r SUBSEP "idle"; w_ = r SUBSEP "warm"; e_ = r SUBSEP "end"
            both = cnt[e_] && cnt[w_]
            g = both ? prv[e_] - prv[w_] : 0
            gf = both ? fds[e_] - fds[w_] : 0
            flag = ""
            if (g > lim_kb) flag = flag " private RSS +" int(g / 1024) " MiB"
            if (gf > lim_fd) flag = flag " fds +" gf
            if (r ~ /-old$/ && cnt[e_] > 0) flag = flag " still running at the end"
            if (flag != "") { leaks++; flag = "<-- FLAG:" flag }
            printf "%-22s %3d/%3d/%3d   | %8s %8s %8s | %6s | %8s %8s | %4s %4s %4s %5s | %s\n", r,
                cnt[i_] + 0, cnt[w_] + 0, cnt[e_] + 0,
                v(rss, i_), v(rss, w_), v(rss, e_), v(shm, e_), v(prv, e_),
                both ? sprintf("%+d", g) : "-",
                v(fds, i_), v(fds, w_), v(fds, e_), both ? sprintf("%+d", gf) : "-", flag
        }
        printf "(roles with several processes: the largest value of any; pids at the end:"
        for (i = 1; i <= nr; i++) if (cnt[roles[i] SUBSEP "end"] && cnt[roles[i] SUBSEP "end"] <= 2) printf " %s=%s", roles[i], pids[roles[i] SUBSEP "end"]
        printf ")\n"
        print "leaks", leaks + 0 >> results
    }' "$RUN/procs.idle" "$RUN/procs.warm" "$RUN/procs.end"
}

# log_window FILE FROM_MS TO_MS: the lines of an Apache or execd error log
# stamped within [FROM_MS, TO_MS] ("[Tue Nov 24 01:28:16.076133 2026] ...").
log_window() {
    awk -v from="$2" -v to="$3" '
    BEGIN { split("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec", m, " "); for (i = 1; i <= 12; i++) mon[m[i]] = i }
    /^\[/ {
        y = $5; sub(/\].*/, "", y); split($4, hms, /[:.]/)
        t = mktime(y " " mon[$2] " " $3 " " hms[1] " " hms[2] " " hms[3]) * 1000 + int(hms[4] / 1000)
        if (t >= from && t <= to) print
    }' "$1" 2>/dev/null
}

# evidence: for each failure that is a bug (at most 10), the log lines of
# both sides around it and its line in the ms access log.
evidence() {
    local s e sid lport why k=0
    [ -s "$RUN/bugs" ] || return 0
    echo
    echo "evidence for the failures that do not line up (log lines from 1 s before to 1 s after each):"
    while read -r s e sid lport why; do
        k=$((k + 1))
        [ "$k" -le 10 ] || { echo "  (more in $RUN/bugs)"; break; }
        echo "  --- request $sid: $(awk -v id="$sid" '$8 == id' "$RUN/requests.all" | cut -c1-300)"
        echo "      why: $why"
        echo "      apache access-ms.log:"
        grep -F -- " $sid" "$RUN/access-ms.log" | grep -E -- " $sid\$" | sed 's/^/        /'
        echo "      apache error_log, lines of its connection (client port $lport):"
        grep -F -- "[client 127.0.0.1:$lport]" "$APACHE_LOG" | cut -c1-300 | tail -n 10 | sed 's/^/        /'
        echo "      apache error_log, other lines of that time:"
        log_window "$APACHE_LOG" $((s - 1000)) $((e + 1000)) | grep -v 'AH0' |
            grep -vF -- "[client 127.0.0.1:$lport]" | cut -c1-300 | tail -n 25 | sed 's/^/        /'
        echo "      execd error log:"
        log_window "$EXECD_LOG" $((s - 1000)) $((e + 1000)) | grep -v 'SP0114\|SP0113: link with' | cut -c1-300 | tail -n 25 | sed 's/^/        /'
    done <"$RUN/bugs"
}

# log_counts: how often the servers logged the events that matter here.
log_counts() {
    local code what a="" e=""
    for code in "SPX0104:request failed" "SPX0103:client went away" \
        "SPX0206:proxy child restarted" "SPX0204:proxy child started"; do
        what=${code#*:} code=${code%%:*}
        a="$a, $what $(grep -c "$code" "$APACHE_LOG")"
    done
    for code in "EXD0021:worker retired" "EXD0033:worker died" \
        "SP0104:worker died serving a request" "SP0118:hung worker killed" \
        "EXD0047:reloaded" "EXD004[45]:reload refused" "EXD0042:drain timed out"; do
        what=${code#*:} code=${code%%:*}
        e="$e, $what $(grep -c "$code" "$EXECD_LOG")"
    done
    echo "server logs: apache:${a#,}"
    echo "             execd:${e#,}"
}

result() {
    awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }' "$RUN/results"
}

rm -f "$RUN/results" "$RUN/bugs"
echo
echo "# ============================== soak report =============================="
echo "seed $SOAK_SEED; $SOAK_CLIENTS clients; traffic $(((STOPPED_MS - START_MS) / 1000)) s; run dir ${RUN#"$TOP/"}"
analyse
log_counts
echo
echo "processes (idle: before the traffic, warm: after ${SOAK_WARMUP} s of it, end: after the run, old generations gone$([ "$SETTLED" -eq 1 ] || echo ": NOT within ${SETTLE_MAX} s"))"
proc_table
evidence
echo "# ========================================================================="
echo

http "$U/app/hello"
expect_body "apache and execd still serve after the soak" $'hello, world\n'
sent=$(result sent)
for k in hello echo gen stream cgi; do
    if [ "$(result "ok_$k")" -gt 0 ]; then
        ok "traffic: $k requests succeeded ($(result "ok_$k"))"
    else
        fail "traffic: $k requests succeeded" "none did"
    fi
done
if [ "$(result bugs)" -eq 0 ]; then
    ok "every failure ($(result failed) of $sent requests) lines up with an injected fault"
else
    fail "every failure lines up with an injected fault" \
        "$(result bugs) of $(result failed) failures do not (see the report)"
fi
if [ "$(result fault_requests_bad)" -eq 0 ]; then
    ok "crash requests and client disconnects ended as expected"
else
    fail "crash requests and client disconnects ended as expected" \
        "$(result fault_requests_bad) did not (see the report)"
fi
if [ "$(result faults)" -gt 0 ]; then
    ok "faults injected: $(result faults)"
else
    fail "faults injected" "none (SOAK_SECONDS too short?)"
fi
if [ "$SETTLED" -eq 1 ]; then
    ok "old generations gone within ${SETTLE_MAX} s after the traffic"
else
    fail "old generations gone within ${SETTLE_MAX} s after the traffic" \
        "$(awk '{ print $1 }' "$RUN/procs.end" | sort | uniq -c | tr -s ' \n' ' ')"
fi
if [ "$(result leaks)" -eq 0 ]; then
    ok "no process role grew by more than $((RSS_LIMIT_KB / 1024)) MiB private RSS or $FD_LIMIT fds"
else
    fail "no process role grew by more than $((RSS_LIMIT_KB / 1024)) MiB private RSS or $FD_LIMIT fds" \
        "$(result leaks) role(s) flagged in the table"
fi
done_testing
