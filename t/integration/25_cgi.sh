#!/usr/bin/env bash
# CGI/1.1 programs run by execd (Service PREFIX cgi:DIR_OR_FILE), under
# both MPMs: the demo's hello.sh, the RFC 3875 meta-variables, the body on
# stdin, a Status header, a 1 MiB body through a script, a single-file
# service with PATH_INFO, and the processes a script leaves running (execd
# reaps them; stopping does not wait for them).
# shellcheck source=t/lib.sh
. "$(dirname "$0")/../lib.sh"
t_begin
need_built

DEMO_CGI="$TOP/conf/demo/cgi-bin"
CGI="$RUN/cgi-bin"
mkdir -p "$CGI" && chmod 755 "$CGI"

cat >"$CGI/env.sh" <<'EOF'
#!/bin/sh
# Prints the CGI meta-variables the test looks at, then the body it read.
printf 'Content-Type: text/plain\n\n'
printf 'GATEWAY_INTERFACE=%s\n' "${GATEWAY_INTERFACE-(unset)}"
printf 'SERVER_PROTOCOL=%s\n' "${SERVER_PROTOCOL-(unset)}"
printf 'REQUEST_METHOD=%s\n' "${REQUEST_METHOD-(unset)}"
printf 'QUERY_STRING=%s\n' "${QUERY_STRING-(unset)}"
printf 'CONTENT_LENGTH=%s\n' "${CONTENT_LENGTH-(unset)}"
printf 'CONTENT_TYPE=%s\n' "${CONTENT_TYPE-(unset)}"
printf 'SCRIPT_NAME=%s\n' "${SCRIPT_NAME-(unset)}"
printf 'PATH_INFO=%s\n' "${PATH_INFO-(unset)}"
printf 'REMOTE_ADDR=%s\n' "${REMOTE_ADDR-(unset)}"
printf 'SERVER_NAME=%s\n' "${SERVER_NAME-(unset)}"
printf 'SERVER_PORT=%s\n' "${SERVER_PORT-(unset)}"
printf 'HTTP_X_TEST=%s\n' "${HTTP_X_TEST-(unset)}"
printf 'BODY='
if [ -n "${CONTENT_LENGTH:-}" ]; then head -c "$CONTENT_LENGTH"; fi
echo
EOF
cat >"$CGI/status.sh" <<'EOF'
#!/bin/sh
printf 'Status: 201 Created\nX-From-Cgi: yes\nContent-Type: text/plain\n\ncreated\n'
EOF
cat >"$CGI/sum.sh" <<'EOF'
#!/bin/sh
# Replies with the sha256 of the body it read on stdin.
printf 'Content-Type: text/plain\n\n'
head -c "${CONTENT_LENGTH:-0}" | sha256sum | cut -d' ' -f1
EOF
cat >"$CGI/orphan.sh" <<'EOF'
#!/bin/sh
# Leaves a process running in the background for $QUERY_STRING seconds
# (without holding the reply open) and prints its pid.
sleep "${QUERY_STRING:-1}" </dev/null >/dev/null 2>&1 &
printf 'Content-Type: text/plain\n\n%s\n' "$!"
EOF
chmod 755 "$CGI"/*.sh

start_backend main \
    "Service /app/cgi/ cgi:$DEMO_CGI/" \
    "Service /app/t-cgi/ cgi:$CGI/" \
    "Service /app/one cgi:$CGI/env.sh" ||
    bail "execd did not start"

cat >"$RUN/site.conf" <<EOF
LoadModule slotproxy_module $MOD_SO
SlotProxySecretFile $RUN/secret
SlotProxyBackend main $BACKEND_ADDR
SlotProxyPass /app/ main
EOF

# What conf/demo/cgi-bin/hello.sh prints as its body when run by hand.
hello_line=""
if [ -x "$DEMO_CGI/hello.sh" ]; then
    hello_line=$(GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=GET QUERY_STRING='' \
        SCRIPT_NAME=/app/cgi/hello.sh SERVER_NAME=127.0.0.1 SERVER_PORT=80 \
        SERVER_PROTOCOL=HTTP/1.1 REMOTE_ADDR=127.0.0.1 "$DEMO_CGI/hello.sh" </dev/null |
        tr -d '\r' | awk 'b && NF { print; exit } /^$/ { b = 1 }')
fi

random_file "$RUN/body" $((1024 * 1024))
body_sha=$(sha_of "$RUN/body")

for mpm in event prefork; do
    T_CTX=$mpm
    port=$(free_port)
    if ! start_apache "$mpm" "$port" "$RUN/site.conf"; then
        fail "apache starts" "see above"
        continue
    fi
    u=$APACHE_URL

    http "$u/app/cgi/hello.sh"
    expect_status "the demo's hello.sh is 200" 200
    if [ -z "$hello_line" ]; then
        fail "hello.sh's output reaches the client" "$DEMO_CGI/hello.sh missing or prints no body"
    else
        check "hello.sh's output reaches the client" grep -qF -- "$hello_line" "$HTTP_BODY"
    fi

    http -H 'X-Test: hello' --data 'a=1&b=2' "$u/app/t-cgi/env.sh?x=y&z"
    expect_status "POST to a CGI script is 200" 200
    expect_body_has "GATEWAY_INTERFACE is CGI/1.1" '^GATEWAY_INTERFACE=CGI/1\.1$'
    expect_body_has "REQUEST_METHOD is POST" '^REQUEST_METHOD=POST$'
    expect_body_has "QUERY_STRING is passed" '^QUERY_STRING=x=y&z$'
    expect_body_has "CONTENT_LENGTH is the body's length" '^CONTENT_LENGTH=7$'
    expect_body_has "CONTENT_TYPE is the form's" '^CONTENT_TYPE=application/x-www-form-urlencoded$'
    expect_body_has "SCRIPT_NAME is the script's URL path" '^SCRIPT_NAME=/app/t-cgi/env\.sh$'
    expect_body_has "REMOTE_ADDR is the browser's" '^REMOTE_ADDR=127\.0\.0\.1$'
    expect_body_has "SERVER_PORT is Apache's" "^SERVER_PORT=$port\$"
    expect_body_has "a request header becomes HTTP_X_TEST" '^HTTP_X_TEST=hello$'
    expect_body_has "the body reaches the script on stdin" '^BODY=a=1&b=2$'

    http "$u/app/t-cgi/env.sh/extra/path"
    expect_body_has "GET is REQUEST_METHOD=GET" '^REQUEST_METHOD=GET$'
    expect_body_has "the path after the script is PATH_INFO" '^PATH_INFO=/extra/path$'

    http "$u/app/one/more"
    expect_status "a single-file cgi: service is 200" 200
    expect_body_has "it gets the rest of the path as PATH_INFO" '^PATH_INFO=/more$'

    http "$u/app/t-cgi/status.sh"
    expect_status "a Status: 201 header gives 201" 201
    expect_header "the script's other headers reach the client" X-From-Cgi '^yes$'
    expect_body "the script's body follows its headers" $'created\n'

    http -H 'Content-Type: application/octet-stream' --data-binary @"$RUN/body" "$u/app/t-cgi/sum.sh"
    expect_status "a 1 MiB POST to a CGI script is 200" 200
    expect_body "the script read all of it (sha256)" "$body_sha"$'\n'

    # A process the script leaves behind is adopted by execd's master (a
    # child subreaper), which reaps it when it ends: no zombie, even where
    # PID 1 does not reap.
    http "$u/app/t-cgi/orphan.sh?1"
    expect_status "a script that leaves a process running is 200" 200
    orphan=$(tr -dc 0-9 <"$HTTP_BODY")
    if [ -z "$orphan" ] || ! _proc_stat "$orphan"; then
        fail "execd's master adopts what a script leaves running" "no pid in the reply, or it is gone already: $(cat "$HTTP_BODY")"
    else
        check "execd's master adopts what a script leaves running (pid $orphan, parent $PS_PPID)" \
            test "$PS_PPID" = "$EXECD_PID"
        check "and reaps it when it ends: no zombie is left" \
            wait_for 5 test ! -e "/proc/$orphan"
    fi

    http "$u/app/t-cgi/no-such-script.sh"
    expect_status "a missing script is 404" 404

    if [ "$mpm" = prefork ]; then
        # Stopping execd waits for its proxy and workers, not for what a
        # script left running (that may run for long).
        http "$u/app/t-cgi/orphan.sh?30"
        orphan=$(tr -dc 0-9 <"$HTTP_BODY")
        if [ -z "$orphan" ] || ! pid_running "$orphan"; then
            fail "execd stops although a script left a process running" "no live pid in the reply: $(cat "$HTTP_BODY")"
        else
            kill -TERM "$EXECD_PID"
            check "execd stops although a script left a process running (pid $orphan)" \
                wait_for 8 pid_gone "$EXECD_PID"
            check "that process is left alone" pid_running "$orphan"
            kill -TERM "$orphan" 2>/dev/null
        fi
    fi
    stop_apache "$APACHE_PID"
done

done_testing
