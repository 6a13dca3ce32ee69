#!/usr/bin/env bash
# HTTP semantics through Apache + mod_slotproxy + execd, under the event and
# the prefork MPM: exact bodies, HEAD, forms, query strings, repeated
# request headers, several Set-Cookie, 204/304, what the handler learns
# about the connection, REMOTE_USER from Apache's basic auth, Content-Type
# both ways, keep-alive, SlotProxyPass and SetHandler slotproxy:NAME.
# shellcheck source=t/lib.sh
. "$(dirname "$0")/../lib.sh"
t_begin
need_built

start_backend main \
    "Service /reports module:$HANDLERS/dump.so dump_handler" ||
    bail "execd did not start"

htpasswd -bc "$RUN/htpasswd" bob 'b0b-pass' >"$T_TMP/htpasswd.out" 2>&1 ||
    bail "htpasswd failed: $(cat "$T_TMP/htpasswd.out")"
chmod 644 "$RUN/htpasswd"

cat >"$RUN/site.conf" <<EOF
LoadModule slotproxy_module $MOD_SO
SlotProxySecretFile $RUN/secret
SlotProxyBackend main $BACKEND_ADDR
SlotProxyPass /app/ main

<Location /reports>
    SetHandler slotproxy:main
</Location>

<Location /app/dump/private>
    AuthType Basic
    AuthName "slotproxy test"
    AuthBasicProvider file
    AuthUserFile "$RUN/htpasswd"
    Require valid-user
</Location>
EOF

# joined FIELD: dump_handler's values for FIELD joined with ", " -- Apache
# may hand repeated request headers over as one merged value (RFC 9110
# 5.3), and both forms keep the order.
joined() {
    dump_field "$1" | awk 'NR > 1 { printf ", " } { printf "%s", $0 }'
}

# line_of REGEX: number of the first body line matching (ignoring case),
# or 999999.
line_of() {
    local n
    n=$(grep -n -i -m 1 -E -- "$1" "$HTTP_BODY" | cut -d: -f1)
    echo "${n:-999999}"
}

# pipelined PORT FILE: HEAD then GET /app/hello on one connection; the
# raw bytes of both replies go to FILE.
pipelined() {
    (
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf 'HEAD /app/hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' >&3
        printf 'GET /app/hello HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
        timeout 10 cat <&3 >"$2"
    )
}

for mpm in event prefork; do
    T_CTX=$mpm
    port=$(free_port)
    if ! start_apache "$mpm" "$port" "$RUN/site.conf"; then
        fail "apache starts with the module" "see above"
        continue
    fi
    u=$APACHE_URL

    # --- GET, HEAD ----------------------------------------------------------
    http "$u/app/hello"
    expect_status "GET /app/hello is 200" 200
    expect_body "GET /app/hello body is exactly 'hello, world\\n'" $'hello, world\n'
    expect_header "the handler's Content-Type reaches the client" Content-Type '^text/plain'

    http -I "$u/app/hello"
    expect_status "HEAD /app/hello is 200" 200
    expect_header "HEAD has the Content-Type" Content-Type '^text/plain'
    check "HEAD has no body" test "$HTTP_SIZE" = 0

    if pipelined "$port" "$T_TMP/pipelined"; then
        tr -d '\r' <"$T_TMP/pipelined" >"$T_TMP/pipelined.txt"
        # The line after the HEAD reply's blank line must be the GET's
        # status line: a body sent for HEAD would show up there.
        after=$(awk 'f { print; exit } /^$/ { f = 1 }' "$T_TMP/pipelined.txt")
        check "HEAD then GET on one connection: no body after the HEAD head" \
            test "${after%% *}" = "HTTP/1.1"
        check "HEAD then GET on one connection: the GET gets its body once" \
            test "$(grep -c '^hello, world$' "$T_TMP/pipelined.txt")" = 1
    else
        fail "HEAD then GET on one connection" "cannot connect to port $port"
    fi

    # --- forms, query, paths ------------------------------------------------
    form='name=slot+proxy&n=1&empty='
    http --data "$form" "$u/app/dump"
    expect_status "POST form to dump is 200" 200
    expect_field "dump sees :method POST" :method POST
    expect_field "dump sees the form's byte count" body-bytes "${#form}"
    expect_field "dump sees the form's sha256" body-sha256 "$(printf '%s' "$form" | sha_of /dev/stdin)"
    expect_field "the form's Content-Type reaches the handler" \
        content-type application/x-www-form-urlencoded

    http "$u/app/dump?a=1&b=two%20words&c"
    expect_field "the query string is passed as is" :query 'a=1&b=two%20words&c'
    expect_field "the path is passed without the query" :path /app/dump
    expect_field "GET is :method GET" :method GET
    expect_field "the scheme is http" :scheme http
    expect_field "a GET has no body bytes" body-bytes 0

    http "$u/app/dump/below/the/prefix"
    expect_field "the full path below the prefix is passed unchanged" :path /app/dump/below/the/prefix

    http "$u/reports/monthly?y=2024"
    expect_status "SetHandler slotproxy:main serves /reports" 200
    expect_field "SetHandler passes the full path" :path /reports/monthly
    expect_field "SetHandler passes the query" :query y=2024

    http "$u/app/no-such-service"
    expect_status "a path under /app/ with no Service is 404" 404

    # --- request headers ----------------------------------------------------
    http -H 'X-First: a' -H 'X-Dup: 1' -H 'X-Dup: 2' -H 'X-Second: b' -H 'X-Dup: 3' \
        -A 'slotproxy-test/1.0' "$u/app/dump"
    v=$(joined x-dup)
    if [ "$v" = "1, 2, 3" ]; then
        ok "a repeated request header arrives with its values in order"
    else
        fail "a repeated request header arrives with its values in order" "x-dup: '$v'"
    fi
    check "request headers arrive in order" \
        test "$(line_of '^x-first: ')" -lt "$(line_of '^x-second: ')"
    check "pseudo fields come before the headers" \
        test "$(line_of '^:scheme: ')" -lt "$(line_of '^x-first: ')"
    expect_field "User-Agent is passed" user-agent slotproxy-test/1.0
    expect_field "Host is passed" host "127.0.0.1:$port"

    http -H 'Content-Type: application/x-slotproxy-test' --data-binary 'xyz' "$u/app/dump"
    expect_field "a request Content-Type reaches the handler" content-type application/x-slotproxy-test

    # --- connection facts ---------------------------------------------------
    http "$u/app/dump"
    expect_field "the handler sees the client address" :remote-addr 127.0.0.1
    expect_field "the handler sees the client port" :remote-port "$HTTP_LPORT"
    expect_field "the handler sees the server name" :server-name 127.0.0.1
    expect_field "the handler sees the server port" :server-port "$port"
    check "no :remote-user without authentication" test -z "$(dump_field :remote-user)"

    # --- REMOTE_USER --------------------------------------------------------
    http "$u/app/dump/private"
    expect_status "a protected location without credentials is 401" 401
    http -u bob:wrong "$u/app/dump/private"
    expect_status "a wrong password is 401" 401
    http -u bob:b0b-pass "$u/app/dump/private"
    expect_status "the right password is 200" 200
    expect_field "the handler sees REMOTE_USER from basic auth" :remote-user bob

    # --- replies ------------------------------------------------------------
    http "$u/app/dump?cookies=3"
    expect_status "a reply with 3 Set-Cookie is 200" 200
    cookies=$(header_values Set-Cookie | cut -d';' -f1 | paste -sd' ')
    if [ "$cookies" = "c1=1 c2=2 c3=3" ]; then
        ok "3 Set-Cookie headers reach the client, separate and in order"
    else
        fail "3 Set-Cookie headers reach the client, separate and in order" "got '$cookies'"
    fi

    for status in 204 304; do
        http "$u/app/dump?status=$status"
        expect_status "?status=$status gives $status" "$status"
        check "$status has no body" test "$HTTP_SIZE" = 0 -a ! -s "$HTTP_BODY"
    done

    http --data-binary @/dev/null "$u/app/upload"
    expect_header "a JSON reply keeps its Content-Type" Content-Type 'json'

    http "$u/app/echo?id=77"
    expect_status "echo?id=77 is 200" 200
    expect_body "echo with an empty body replies id=77" $'id=77\n'
    expect_header "echo?id=77 sets X-Request-Id: 77" X-Request-Id '^77$'

    # Two requests on one keep-alive connection, each its own reply.
    curl -sS --max-time 30 -o "$T_TMP/ka1" "$u/app/echo?id=1" -o "$T_TMP/ka2" "$u/app/echo?id=2" \
        2>"$T_TMP/ka.err"
    check "keep-alive: the first request gets its reply" test "$(cat "$T_TMP/ka1" 2>/dev/null)" = id=1
    check "keep-alive: the second request gets its reply" test "$(cat "$T_TMP/ka2" 2>/dev/null)" = id=2

    apid=$APACHE_PID
    check "apache stops on SIGTERM with the module loaded" stop_apache "$apid"
    check "no apache process is left" pid_gone "$apid"
done
T_CTX=""

http "http://127.0.0.1:$port/"
check "execd still runs after both apaches stopped" pid_running "$EXECD_PID"

done_testing
