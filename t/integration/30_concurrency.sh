#!/usr/bin/env bash
# Many requests at once, under both MPMs: 200 concurrent GETs of
# /app/echo?id=N, and 50 concurrent POSTs of distinct 100 KiB bodies (each
# more than one slot) -- every request must get its own reply and nobody
# else's.
# shellcheck source=t/lib.sh
. "$(dirname "$0")/../lib.sh"
t_begin
need_built

N_GET=200
N_POST=50
POST_SIZE=$((100 * 1024))

# QueueSize above the concurrency: this test is about isolation, not about
# the overload answer (40_errors.sh checks that).
EXECD_WORKERS=4 EXECD_QUEUE=512 start_backend main || bail "execd did not start"
cat >"$RUN/site.conf" <<EOF
LoadModule slotproxy_module $MOD_SO
SlotProxySecretFile $RUN/secret
SlotProxyBackend main $BACKEND_ADDR
SlotProxyPass /app/ main
EOF

mkdir -p "$RUN/post"
for ((i = 1; i <= N_POST; i++)); do
    random_file "$RUN/post/in.$i" "$POST_SIZE"
done

# curl_config URL_BASE DIR: a curl -K file with one transfer per id; GETs of
# echo?id=N, then POSTs of DIR/in.N to echo?id=pN.  Each transfer writes its
# body to DIR/get.N or DIR/post.N and prints "STATUS get|post N" on stdout.
# "Connection: close": curl would keep every finished connection open until
# the end, and each would tie up a prefork child for KeepAliveTimeout (5 s)
# -- a test of Apache's patience, not of the module.  Keep-alive through
# the module is checked in 10_http.sh.
curl_config() {
    local base=$1 dir=$2 i
    for ((i = 1; i <= N_GET; i++)); do
        [ "$i" -eq 1 ] || echo next
        printf 'silent\nshow-error\nmax-time = 60\nheader = "Connection: close"\n'
        printf 'url = "%s/app/echo?id=%d"\n' "$base" "$i"
        printf 'output = "%s/get.%d"\nwrite-out = "%%{http_code} get %d\\n"\n' "$dir" "$i" "$i"
    done
    for ((i = 1; i <= N_POST; i++)); do
        echo next
        printf 'silent\nshow-error\nmax-time = 60\nheader = "Connection: close"\n'
        printf 'url = "%s/app/echo?id=p%d"\n' "$base" "$i"
        printf 'header = "Content-Type: application/octet-stream"\n'
        printf 'data-binary = "@%s/post/in.%d"\n' "$RUN" "$i"
        printf 'output = "%s/post.%d"\nwrite-out = "%%{http_code} post %d\\n"\n' "$dir" "$i" "$i"
    done
}

for mpm in event prefork; do
    T_CTX=$mpm
    port=$(free_port)
    if ! start_apache "$mpm" "$port" "$RUN/site.conf"; then
        fail "apache starts" "see above"
        continue
    fi
    out="$RUN/out-$mpm"
    mkdir -p "$out"
    curl_config "$APACHE_URL" "$out" >"$out/curl.cfg"
    t0=$(now_ms)
    curl -sS --parallel --parallel-max $((N_GET + N_POST)) --parallel-immediate \
        -K "$out/curl.cfg" >"$out/codes" 2>"$out/curl.err"
    rc=$?
    echo "# $mpm: $((N_GET + N_POST)) concurrent requests took $(($(now_ms) - t0)) ms (curl exit $rc)"

    bad_status=$(awk '$1 != 200' "$out/codes" | head -n 5 | tr '\n' ' ')
    n_codes=$(wc -l <"$out/codes")
    if [ "$n_codes" -eq $((N_GET + N_POST)) ] && [ -z "$bad_status" ]; then
        ok "$((N_GET + N_POST)) concurrent requests all got 200"
    else
        fail "$((N_GET + N_POST)) concurrent requests all got 200" \
            "$n_codes replies; not 200: ${bad_status:-none}; $(head -c 200 "$out/curl.err")"
    fi

    wrong=""
    for ((i = 1; i <= N_GET; i++)); do
        [ "$(cat "$out/get.$i" 2>/dev/null)" = "id=$i" ] || wrong="$wrong $i"
    done
    if [ -z "$wrong" ]; then
        ok "each of $N_GET concurrent GETs got its own reply id=N"
    else
        read -r first _ <<<"$wrong"
        fail "each of $N_GET concurrent GETs got its own reply id=N" \
            "wrong for ids:$(cut -c1-200 <<<"$wrong"); id $first got '$(head -c 40 "$out/get.$first" 2>/dev/null)'"
    fi

    wrong=""
    for ((i = 1; i <= N_POST; i++)); do
        cmp -s "$RUN/post/in.$i" "$out/post.$i" || wrong="$wrong $i"
    done
    if [ -z "$wrong" ]; then
        ok "each of $N_POST concurrent 100 KiB POSTs got its own body back"
    else
        fail "each of $N_POST concurrent 100 KiB POSTs got its own body back" "wrong for:$wrong"
    fi

    http "$APACHE_URL/app/hello"
    expect_body "a request after the burst is served" $'hello, world\n'
    stop_apache "$APACHE_PID"
done

done_testing
