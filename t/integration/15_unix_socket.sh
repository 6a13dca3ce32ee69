#!/usr/bin/env bash
# The link over a UNIX socket (Listen unix:/path in execd,
# SlotProxyBackend NAME unix:/path in Apache), under both MPMs.  When the
# tests run as root, Apache's proxy child runs as www-data: the socket must
# be usable by it all the same.
# shellcheck source=t/lib.sh
. "$(dirname "$0")/../lib.sh"
t_begin
need_built

mkdir -p "$RUN/u" && chmod 755 "$RUN/u"
EXECD_LISTEN="unix:$RUN/u/execd.sock" start_backend u || bail "execd did not start"
check "execd made its UNIX socket" test -S "$RUN/u/execd.sock"

cat >"$RUN/site.conf" <<EOF
LoadModule slotproxy_module $MOD_SO
SlotProxySecretFile $RUN/secret
SlotProxyBackend local $BACKEND_ADDR
SlotProxyPass /app/ local
EOF

random_file "$RUN/body" $((1024 * 1024 + 3))

for mpm in event prefork; do
    T_CTX=$mpm
    port=$(free_port)
    if ! start_apache "$mpm" "$port" "$RUN/site.conf"; then
        fail "apache starts with a unix: backend" "see above"
        continue
    fi
    http "$APACHE_URL/app/hello"
    expect_status "GET /app/hello over a UNIX socket link is 200" 200
    expect_body "and its body is exact" $'hello, world\n'

    http -H 'Content-Type: application/octet-stream' --data-binary @"$RUN/body" "$APACHE_URL/app/echo"
    expect_status "a 1 MiB echo over a UNIX socket link is 200" 200
    expect_body_file "and comes back intact" "$RUN/body"

    http "$APACHE_URL/app/dump"
    expect_field "the handler still sees the browser's address" :remote-addr 127.0.0.1
    expect_field "and the browser's port" :remote-port "$HTTP_LPORT"
    stop_apache "$APACHE_PID"
done

done_testing
