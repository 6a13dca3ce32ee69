#!/usr/bin/env bash
# Bodies of every size, both ways, under both MPMs: 0 B, 1 B, around the
# longest slot frame (65524 B of payload in the default 128 KiB slot) and
# around the slot size itself (131072 B), 64 MiB random through echo, a 64 MiB
# download from gen.so and a 64 MiB upload to upload.so (all checked by
# sha256), and chunked uploads.  Also checks that no server process grew
# with the body size while doing it.
# shellcheck source=t/lib.sh
. "$(dirname "$0")/../lib.sh"
t_begin
need_built

BIG=$((64 * 1024 * 1024))
CHUNKED=$((3 * 65536 + 17))
HTTP_MAX_TIME=300
HWM_LIMIT_KB=$((48 * 1024)) # resident high-water mark allowed per process

start_backend main || bail "execd did not start"
cat >"$RUN/site.conf" <<EOF
LoadModule slotproxy_module $MOD_SO
SlotProxySecretFile $RUN/secret
SlotProxyBackend main $BACKEND_ADDR
SlotProxyPass /app/ main
EOF

for n in 0 1 65524 65525 131072 131073; do
    random_file "$RUN/b$n" "$n"
done
random_file "$RUN/chunked" "$CHUNKED"
random_file "$RUN/big" "$BIG"
T_CLEANUP+=("$RUN/big" "$T_TMP/body")
big_sha=$(sha_of "$RUN/big")
gen_sha=$("$T_TOOLS/genpat" "$BIG" | sha_of /dev/stdin)

# hwm_report PID...: "KB PID" of the largest resident high-water mark
# (VmHWM) among these processes and their children.
hwm_report() {
    local p e kb best=0 who=""
    for p in "$@"; do
        for e in "$p:" $(children_of "$p"); do
            kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/${e%%:*}/status" 2>/dev/null)
            if [ -n "$kb" ] && [ "$kb" -gt "$best" ]; then
                best=$kb
                who=${e%%:*}
            fi
        done
    done
    echo "$best $who"
}

sanitized() {
    grep -q libasan "/proc/$1/maps" 2>/dev/null
}

octet=(-H 'Content-Type: application/octet-stream')

for mpm in event prefork; do
    T_CTX=$mpm
    port=$(free_port)
    if ! start_apache "$mpm" "$port" "$RUN/site.conf"; then
        fail "apache starts" "see above"
        continue
    fi
    u=$APACHE_URL

    for n in 0 1 65524 65525 131072 131073; do
        http "${octet[@]}" --data-binary @"$RUN/b$n" "$u/app/echo"
        expect_status "echo of $n B is 200" 200
        expect_body_file "echo of $n B comes back intact" "$RUN/b$n"
    done

    http "${octet[@]}" --data-binary @"$RUN/big" "$u/app/echo"
    expect_status "echo of 64 MiB is 200" 200
    got=$(sha_of "$HTTP_BODY")
    if [ "$got" = "$big_sha" ]; then
        ok "echo of 64 MiB random comes back with the same sha256"
    else
        fail "echo of 64 MiB random comes back with the same sha256" \
            "got $HTTP_SIZE bytes, sha256 $got"
    fi

    http "$u/app/gen?bytes=$BIG"
    expect_status "a 64 MiB download from gen is 200" 200
    expect_header "it has Content-Length: $BIG" Content-Length "^$BIG\$"
    got=$(sha_of "$HTTP_BODY")
    if [ "$got" = "$gen_sha" ]; then
        ok "the 64 MiB download matches the pattern (sha256)"
    else
        fail "the 64 MiB download matches the pattern (sha256)" "got $HTTP_SIZE bytes, sha256 $got"
    fi
    rm -f "$HTTP_BODY"

    http "${octet[@]}" --data-binary @"$RUN/big" "$u/app/upload"
    expect_status "a 64 MiB upload is 200" 200
    expect_body_has "upload counted $BIG bytes" "\"bytes\": *${BIG}[,} ]"
    expect_body_has "upload's sha256 is the sent file's" "\"sha256\": *\"$big_sha\""

    http "${octet[@]}" -H 'Transfer-Encoding: chunked' --data-binary @"$RUN/chunked" "$u/app/echo"
    expect_status "a chunked upload to echo is 200" 200
    expect_body_file "a chunked upload comes back intact" "$RUN/chunked"

    http "${octet[@]}" -H 'Transfer-Encoding: chunked' --data-binary @"$RUN/chunked" "$u/app/upload"
    expect_body_has "a chunked upload is counted right" "\"bytes\": *${CHUNKED}[,} ]"

    if sanitized "$EXECD_PID" || sanitized "$APACHE_PID"; then
        echo "# sanitizer build: resident memory not checked"
    else
        read -r kb who <<<"$(hwm_report "$EXECD_PID" "$APACHE_PID")"
        if [ "$kb" -le "$HWM_LIMIT_KB" ]; then
            ok "no server process grew past $((HWM_LIMIT_KB / 1024)) MiB with 64 MiB bodies (max $((kb / 1024)) MiB)"
        else
            fail "no server process grew past $((HWM_LIMIT_KB / 1024)) MiB with 64 MiB bodies" \
                "pid $who ($(tr '\0' ' ' <"/proc/$who/cmdline" 2>/dev/null)) reached $((kb / 1024)) MiB"
        fi
    fi
    stop_apache "$APACHE_PID"
done

done_testing
