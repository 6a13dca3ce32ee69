#!/bin/bash
# 90_http2_tls.sh -- HTTP/2 over TLS in front of mod_slotproxy.
#
# HTTP/2 multiplexes many requests over one connection, all served from
# the scoreboard entry of that connection: each stream must claim a slot
# of its own (the module's claim falls back to a scan when the
# connection's own slot is taken).  Also: a request that came over TLS
# reaches the handler as https (":scheme https", HTTPS=on for CGI).  Then
# cleartext HTTP/2 (h2c), with prior knowledge and by Upgrade.
. "$(dirname "$0")/../lib.sh"
t_begin
need_built
command -v openssl >/dev/null || bail "openssl (the CLI) is not installed"
for m in mod_ssl.so mod_http2.so mod_socache_shmcb.so; do
    [ -f "$APACHE_MODDIR/$m" ] || bail "$APACHE_MODDIR/$m is missing"
done

N=100
PKI="$RUN/pki"
mkdir -p "$PKI" && chmod 755 "$PKI"
printf 'subjectAltName=IP:127.0.0.1\n' >"$PKI/ext"
if openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$PKI/server.key" -out "$PKI/server.pem" -days 2 \
    -subj "/CN=127.0.0.1" -addext subjectAltName=IP:127.0.0.1 \
    >"$PKI/openssl.log" 2>&1; then
    chmod 600 "$PKI/server.key"
    ok "a self-signed certificate for 127.0.0.1 is made"
else
    sed 's/^/#   /' "$PKI/openssl.log"
    bail "openssl could not make the certificate"
fi

EXECD_WORKERS=4 start_backend main "Service /app/cgi/ cgi:$TOP/conf/demo/cgi-bin/" ||
    bail "execd main did not start"
cat >"$RUN/site.conf" <<CONF
LoadModule slotproxy_module $MOD_SO
LoadModule socache_shmcb_module $APACHE_MODDIR/mod_socache_shmcb.so
LoadModule ssl_module $APACHE_MODDIR/mod_ssl.so
LoadModule http2_module $APACHE_MODDIR/mod_http2.so
SSLEngine on
SSLCertificateFile $PKI/server.pem
SSLCertificateKeyFile $PKI/server.key
Protocols h2 http/1.1
SlotProxySecretFile $RUN/secret
SlotProxyBackend main $BACKEND_ADDR
SlotProxyPass /app/ main
CONF
port=$(free_port) || bail "no free port"
start_apache event "$port" "$RUN/site.conf" || bail "apache (TLS, h2) did not start"
U="https://127.0.0.1:$port"

v=$(curl -sk --http2 -o /dev/null -w '%{http_version} %{http_code}' "$U/app/hello")
if [ "$v" = "2 200" ]; then
    ok "GET over HTTP/2 and TLS: 200"
else
    fail "GET over HTTP/2 and TLS: 200" "got '$v'"
fi

dump=$(curl -sk --http2 "$U/app/dump")
if grep -qx ':scheme: https' <<<"$dump"; then
    ok "the handler sees :scheme https"
else
    fail "the handler sees :scheme https" "$(grep '^:scheme' <<<"$dump")"
fi
if grep -qx ':protocol: HTTP/2.0' <<<"$dump"; then
    ok "and :protocol HTTP/2.0"
else
    fail "and :protocol HTTP/2.0" "$(grep '^:protocol' <<<"$dump")"
fi
cgi=$(curl -sk --http2 "$U/app/cgi/hello.sh")
if grep -q 'HTTPS</th><td>on' <<<"$cgi"; then
    ok "a CGI program gets HTTPS=on"
else
    fail "a CGI program gets HTTPS=on" "not in its page"
fi

# N streams at once on one connection, each with its own reply.
out="$RUN/h2"
parallel_echo "$U/app" "$N" "$out" "$N" insecure http2 'max-time = 60'
n_ok=$(awk '$1 == 200 && $2 == 2' "$out/codes" | wc -l)
conns=$(awk '{ c += $3 } END { print c + 0 }' "$out/codes")
if [ -z "$PE_WRONG" ] && [ "$n_ok" -eq "$N" ]; then
    ok "$N concurrent HTTP/2 streams each get their own reply"
else
    fail "$N concurrent HTTP/2 streams each get their own reply" \
        "$n_ok of $N were HTTP/2 200; wrong:$(cut -c1-80 <<<"$PE_WRONG")"
fi
if [ "$conns" -le 2 ]; then
    ok "they shared one connection ($conns connect(s) for $N streams)"
else
    fail "they shared one connection" "$conns connects for $N streams"
fi

random_file "$RUN/body.bin" $((3 * 1024 * 1024))
got=$(curl -sk --http2 --data-binary @"$RUN/body.bin" "$U/app/echo" | sha256sum | cut -c1-64)
if [ "$got" = "$(sha_of "$RUN/body.bin")" ]; then
    ok "a 3 MiB echo over HTTP/2 comes back intact"
else
    fail "a 3 MiB echo over HTTP/2 comes back intact" "sha256 differs"
fi

# Cleartext HTTP/2 (h2c), with prior knowledge and by Upgrade.
stop_apache "$APACHE_PID"
cat >"$RUN/site-h2c.conf" <<CONF
LoadModule slotproxy_module $MOD_SO
LoadModule http2_module $APACHE_MODDIR/mod_http2.so
Protocols h2c http/1.1
SlotProxySecretFile $RUN/secret
SlotProxyBackend main $BACKEND_ADDR
SlotProxyPass /app/ main
CONF
port=$(free_port) || bail "no free port"
start_apache event "$port" "$RUN/site-h2c.conf" || bail "apache (h2c) did not start"
v=$(curl -sS --http2-prior-knowledge -o "$RUN/h2c.body" -w '%{http_version} %{http_code}' \
    "http://127.0.0.1:$port/app/hello")
if [ "$v" = "2 200" ] && [ "$(cat "$RUN/h2c.body")" = "hello, world" ]; then
    ok "h2c with prior knowledge: HTTP/2 200 and the handler's reply"
else
    fail "h2c with prior knowledge: HTTP/2 200 and the handler's reply" \
        "got '$v', body '$(head -c 80 "$RUN/h2c.body")'"
fi
v=$(curl -sS --http2-prior-knowledge --data-binary @"$RUN/body.bin" -o "$RUN/h2c.echo" \
    -w '%{http_version} %{http_code}' "http://127.0.0.1:$port/app/echo")
if [ "$v" = "2 200" ] && [ "$(sha_of "$RUN/h2c.echo")" = "$(sha_of "$RUN/body.bin")" ]; then
    ok "a 3 MiB echo over h2c comes back intact"
else
    fail "a 3 MiB echo over h2c comes back intact" "got '$v', or the sha256 differs"
fi
v=$(curl -sS --http2 -o /dev/null -w '%{http_version} %{http_code}' "http://127.0.0.1:$port/app/hello")
if [ "$v" = "2 200" ]; then
    ok "a GET upgraded to h2c: HTTP/2 200"
else
    fail "a GET upgraded to h2c: HTTP/2 200" "got '$v'"
fi

done_testing
