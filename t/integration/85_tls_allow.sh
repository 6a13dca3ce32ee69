#!/usr/bin/env bash
# TLS links and execd's Allow list (event MPM).
#  - A throwaway CA, a server certificate for IP 127.0.0.1 and a client
#    certificate, made with the openssl CLI in the run dir, and a second CA
#    that signed neither.
#  - execd `Listen ... tls` + TLSCertificateFile/TLSKeyFile, Apache
#    `SlotProxyBackend NAME tls://...` + SlotProxyTLSCAFile: GET and a
#    4 MiB echo are served; the listener really speaks TLS with that
#    certificate (openssl s_client verifies it).
#  - Apache trusting the other CA: 503, "certificate refused" in its log.
#  - execd with TLSClientCAFile (client certificates required): 503 without
#    SlotProxyTLSCertificateFile, 200 with a client certificate of the CA.
#  - execd `Allow 127.0.0.2` while Apache connects from 127.0.0.1: 503 and
#    SP0111 "address not allowed"; `Allow 127.0.0.0/8`: 200.
# shellcheck source=t/lib.sh
. "$(dirname "$0")/../lib.sh"
t_begin
need_built
command -v openssl >/dev/null || bail "openssl (the CLI) is not installed"

PKI="$RUN/pki"
mkdir -p "$PKI"
chmod 755 "$PKI"

# mk_ca NAME CN: NAME.pem and NAME.key, a self-signed CA.
mk_ca() {
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$PKI/$1.key" -out "$PKI/$1.pem" -days 2 -subj "/CN=$2" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
        >>"$PKI/openssl.log" 2>&1
}

# mk_cert NAME CA CN EXTENSIONS: NAME.pem and NAME.key signed by CA.
mk_cert() {
    printf '%s\n' "$4" >"$PKI/$1.ext"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$PKI/$1.key" -out "$PKI/$1.csr" -subj "/CN=$3" >>"$PKI/openssl.log" 2>&1 &&
        openssl x509 -req -in "$PKI/$1.csr" -CA "$PKI/$2.pem" -CAkey "$PKI/$2.key" \
            -CAcreateserial -out "$PKI/$1.pem" -days 2 -extfile "$PKI/$1.ext" \
            >>"$PKI/openssl.log" 2>&1
}

if mk_ca ca "slotproxy test CA" && mk_ca otherca "another test CA" &&
    mk_cert server ca 127.0.0.1 $'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth' &&
    mk_cert client ca slotproxy-client $'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth'; then
    chmod 600 "$PKI"/*.key
    ok "a CA, a server certificate (IP:127.0.0.1), a client certificate and another CA are made"
else
    sed 's/^/#   /' "$PKI/openssl.log"
    bail "openssl could not make the certificates"
fi

# backend_on NAME LISTEN_SUFFIX LINE...: an execd on a free port, the
# Listen line "127.0.0.1:PORT LISTEN_SUFFIX", its services under /NAME/
# (Apache passes /NAME/... on unchanged); sets ADDR_PORT.
backend_on() {
    local name=$1 suffix=$2
    shift 2
    ADDR_PORT=$(free_port) || return 1
    EXECD_LISTEN="127.0.0.1:$ADDR_PORT${suffix:+ $suffix}" EXECD_PREFIX="/$name" \
        start_backend "$name" "$@"
}

backend_on tls tls "TLSCertificateFile $PKI/server.pem" "TLSKeyFile $PKI/server.key" ||
    bail "execd with a TLS listener did not start"
tls_port=$ADDR_PORT tls_log=$EXECD_LOG
backend_on mtls tls "TLSCertificateFile $PKI/server.pem" "TLSKeyFile $PKI/server.key" \
    "TLSClientCAFile $PKI/ca.pem" || bail "execd requiring client certificates did not start"
mtls_port=$ADDR_PORT mtls_log=$EXECD_LOG
backend_on allow2 "" "Allow 127.0.0.2" || bail "execd with Allow 127.0.0.2 did not start"
a2_port=$ADDR_PORT a2_log=$EXECD_LOG
backend_on allow8 "" "Allow 127.0.0.0/8" || bail "execd with Allow 127.0.0.0/8 did not start"
a8_port=$ADDR_PORT

# site DIR LINE...: DIR/site.conf with the secret and the lines.
site() {
    local dir="$RUN/$1" line
    shift
    mkdir -p "$dir" && chmod 755 "$dir"
    {
        echo "LoadModule slotproxy_module $MOD_SO"
        echo "SlotProxySecretFile $RUN/secret"
        echo "SlotProxyTimeout 20"
        for line in "$@"; do echo "$line"; done
    } >"$dir/site.conf"
}

site plain "SlotProxyTLSCAFile $PKI/ca.pem" \
    "SlotProxyBackend tls tls://127.0.0.1:$tls_port" \
    "SlotProxyBackend mtls tls://127.0.0.1:$mtls_port" \
    "SlotProxyBackend allow2 tcp://127.0.0.1:$a2_port" \
    "SlotProxyBackend allow8 tcp://127.0.0.1:$a8_port" \
    "SlotProxyPass /tls/ tls" "SlotProxyPass /mtls/ mtls" \
    "SlotProxyPass /allow2/ allow2" "SlotProxyPass /allow8/ allow8"
site other "SlotProxyTLSCAFile $PKI/otherca.pem" \
    "SlotProxyBackend tls tls://127.0.0.1:$tls_port" "SlotProxyPass /tls/ tls"
site client "SlotProxyTLSCAFile $PKI/ca.pem" \
    "SlotProxyTLSCertificateFile $PKI/client.pem" "SlotProxyTLSKeyFile $PKI/client.key" \
    "SlotProxyBackend mtls tls://127.0.0.1:$mtls_port" "SlotProxyPass /mtls/ mtls"
port=$(free_port)
start_apache event "$port" "$RUN/plain/site.conf" || bail "apache (CA file, no client certificate) did not start"
u=$APACHE_URL ulog=$APACHE_LOG
port=$(free_port)
start_apache event "$port" "$RUN/other/site.conf" || bail "apache (the other CA) did not start"
uo=$APACHE_URL olog=$APACHE_LOG
port=$(free_port)
start_apache event "$port" "$RUN/client/site.conf" || bail "apache (client certificate) did not start"
uc=$APACHE_URL

# ===========================================================================
T_CTX="tls"
if openssl s_client -connect "127.0.0.1:$tls_port" -CAfile "$PKI/ca.pem" -verify_ip 127.0.0.1 \
    -verify_return_error </dev/null >"$T_TMP/s_client.out" 2>&1 &&
    grep -q 'Verify return code: 0 (ok)' "$T_TMP/s_client.out"; then
    ok "execd's listener speaks TLS with the server certificate (openssl s_client verifies it)"
else
    fail "execd's listener speaks TLS with the server certificate" \
        "$(grep -E 'Verify return code|error' "$T_TMP/s_client.out" | head -n 3 | tr '\n' ';')"
fi
http "$u/tls/hello"
expect_body "GET over the TLS link" $'hello, world\n'
random_file "$RUN/4m.bin" $((4 * 1024 * 1024))
http -H 'Content-Type: application/octet-stream' --data-binary "@$RUN/4m.bin" "$u/tls/echo"
expect_body_file "a 4 MiB echo over the TLS link" "$RUN/4m.bin"
expect_log "execd authenticated the link that came over TLS" "$tls_log" 0 'SP0114: link peer 127\.0\.0\.1:[0-9]+ authenticated'

mark=$(log_mark "$olog")
http "$uo/tls/hello"
expect_status "Apache trusting another CA: 503" 503
expect_log "its error_log says the certificate was refused" "$olog" "$mark" 'certificate refused'

T_CTX="client certificates"
mark=$(log_mark "$mtls_log")
umark=$(log_mark "$ulog")
http "$u/mtls/hello"
expect_status "execd requires a client certificate, Apache has none: 503" 503
expect_log "Apache's error_log names the backend" "$ulog" "$umark" 'SPX0104: backend mtls: unavailable'
if wait_for 5 _log_has "$mtls_log" "$mark" 'SP0113: link .*peer 127\.0\.0\.1:[0-9]+ closed: '; then
    ok "execd logs the refused peer ($(tail -n "+$((mark + 1))" "$mtls_log" | grep -o 'closed: .*' | head -n 1 | cut -c1-120))"
else
    fail "execd logs the refused peer" "no SP0113 ... closed line"
fi
http "$uc/mtls/hello"
expect_body "with a client certificate signed by the CA: served" $'hello, world\n'

T_CTX="allow"
mark=$(log_mark "$a2_log")
http "$u/allow2/hello"
expect_status "Allow 127.0.0.2, Apache connects from 127.0.0.1: 503" 503
expect_log "execd logs the address not allowed (SP0111)" "$a2_log" "$mark" \
    'SP0111: connection from 127\.0\.0\.1:[0-9]+ refused: address not allowed'
http "$u/allow8/hello"
expect_body "Allow 127.0.0.0/8: served" $'hello, world\n'

done_testing
