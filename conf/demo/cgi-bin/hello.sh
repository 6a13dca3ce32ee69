#!/bin/sh
# hello.sh -- a CGI/1.1 example run by execd (Service PREFIX cgi:DIR).
#
# Reads the request body from stdin (counting its bytes), then answers an
# HTML page listing the environment execd gave it: the RFC 3875
# meta-variables and one HTTP_* variable per request header.

size=$(wc -c | tr -d ' ')

esc() {
    sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e 's/"/\&quot;/g'
}

printf 'Content-Type: text/html; charset=utf-8\r\n'
printf 'Cache-Control: no-cache\r\n'
printf '\r\n'

cat <<HTML
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>hello.sh -- CGI environment</title>
<style>
  body { font: 15px/1.45 system-ui, sans-serif; margin: 1.5rem; color: #222; }
  table { border-collapse: collapse; }
  th, td { text-align: left; padding: .15rem .6rem; vertical-align: top;
           border-bottom: 1px solid #e3e3e3; font-family: ui-monospace, monospace;
           font-size: .9rem; word-break: break-all; }
  th { white-space: nowrap; }
</style>
</head>
<body>
<h1>Hello from a CGI shell script</h1>
<p>Process $$ in $(pwd | esc), running as $(id -un 2>/dev/null | esc).
The request body had <b>$size</b> bytes.</p>
<table>
HTML

env | LC_ALL=C sort | esc |
    sed -e 's|^\([^=]*\)=\(.*\)$|<tr><th>\1</th><td>\2</td></tr>|'

cat <<HTML
</table>
<p><a href="/">back to the demo</a></p>
</body>
</html>
HTML
