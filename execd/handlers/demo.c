/*
 * demo.c -- the demo's front page: one self-contained HTML page (inline
 * CSS and script, nothing loaded from elsewhere) that exercises the other
 * example handlers from a browser.
 *
 *     Service / module:.../demo.so demo_handler
 *
 * It answers only for the Service prefix itself (and "/" or
 * "/index.html" below it); any other path under it is a 404, so that a
 * stray /favicon.ico does not get the page.
 */
#include <string.h>

#include "execd_api.h"

int demo_handler(execd_request *r);

static const char page[] =
"<!DOCTYPE html>\n"
"<html lang=\"en\">\n"
"<head>\n"
"<meta charset=\"utf-8\">\n"
"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
"<title>mod_slotproxy + execd demo</title>\n"
"<style>\n"
"  body { font: 16px/1.5 system-ui, sans-serif; color: #222; margin: 0;\n"
"         background: #f6f7f9; }\n"
"  main { max-width: 52rem; margin: 0 auto; padding: 1.5rem; }\n"
"  h1 { font-size: 1.6rem; margin: .5rem 0 1rem; }\n"
"  h2 { font-size: 1.15rem; margin: 0 0 .6rem; }\n"
"  section { background: #fff; border: 1px solid #dde1e6;\n"
"            border-radius: 6px; padding: 1rem 1.2rem; margin: 0 0 1rem; }\n"
"  label { display: block; margin: .4rem 0 .2rem; font-weight: 600; }\n"
"  input[type=text], textarea { width: 100%; box-sizing: border-box;\n"
"            padding: .4rem; border: 1px solid #bbb; border-radius: 4px;\n"
"            font: inherit; }\n"
"  button { margin-top: .6rem; padding: .35rem 1rem; font: inherit;\n"
"           border: 1px solid #2b5fab; background: #2f6fcc; color: #fff;\n"
"           border-radius: 4px; cursor: pointer; }\n"
"  pre, iframe { width: 100%; box-sizing: border-box; background: #1e2228;\n"
"           color: #d8dee9; border: 0; border-radius: 4px; }\n"
"  pre { padding: .7rem; min-height: 3rem; overflow-x: auto; margin: .6rem 0 0; }\n"
"  iframe { height: 16rem; background: #fff; border: 1px solid #dde1e6; }\n"
"  code { background: #eef0f3; padding: 0 .25rem; border-radius: 3px; }\n"
"  .path { font-family: ui-monospace, monospace; font-size: .9rem; }\n"
"</style>\n"
"</head>\n"
"<body>\n"
"<main>\n"
"<h1>mod_slotproxy + execd demo</h1>\n"
"\n"
"<section>\n"
"<h2>What happens when you click</h2>\n"
"<p>Your browser sends the request to <b>Apache</b>. The\n"
"<b>mod_slotproxy</b> handler in the Apache child (or worker thread)\n"
"writes it into its own <b>shared-memory slot</b> and wakes the host's\n"
"<b>proxy</b>, which carries it over a persistent, multiplexed,\n"
"authenticated <b>link</b> (TCP or a UNIX socket) to <b>execd</b>. The\n"
"execd proxy hands it to the slot of an idle <b>worker</b> process, which\n"
"runs the handler &mdash; a C module or a CGI program &mdash; and streams the\n"
"reply back the same way: worker slot, link, proxy, the Apache child's\n"
"slot, browser.</p>\n"
"<p class=\"path\">browser &rarr; Apache &rarr; mod_slotproxy &rarr;\n"
"shared-memory slot &rarr; proxy &rarr; link &rarr; execd &rarr; worker</p>\n"
"</section>\n"
"\n"
"<section>\n"
"<h2>A form (POST to <code>/form</code>)</h2>\n"
"<form method=\"post\" action=\"/form\" target=\"result\">\n"
"<label for=\"name\">Name</label>\n"
"<input type=\"text\" id=\"name\" name=\"name\" value=\"Ada\">\n"
"<label for=\"message\">Message</label>\n"
"<textarea id=\"message\" name=\"message\" rows=\"3\">Hello from the "
"browser.</textarea>\n"
"<button type=\"submit\">Send</button>\n"
"</form>\n"
"<p>The reply lists every field the handler received, then the body's\n"
"size and SHA-256.</p>\n"
"</section>\n"
"\n"
"<section>\n"
"<h2>A file upload (POST to <code>/upload</code>)</h2>\n"
"<form method=\"post\" action=\"/upload\" enctype=\"multipart/form-data\"\n"
"      target=\"result\">\n"
"<label for=\"file\">File</label>\n"
"<input type=\"file\" id=\"file\" name=\"file\">\n"
"<button type=\"submit\">Upload</button>\n"
"</form>\n"
"<p>The handler hashes the file as it streams through, whatever its size,\n"
"and reports its size and SHA-256.</p>\n"
"</section>\n"
"\n"
"<section>\n"
"<h2>Results</h2>\n"
"<iframe name=\"result\" title=\"results\"></iframe>\n"
"</section>\n"
"\n"
"<section>\n"
"<h2>A streamed reply</h2>\n"
"<p><a href=\"/stream?lines=10&amp;interval_ms=300\">/stream?lines=10&amp;"
"interval_ms=300</a> writes ten lines, 300&nbsp;ms apart, flushing each.\n"
"The button reads the same reply with <code>fetch()</code> and shows each\n"
"line the moment it arrives.</p>\n"
"<button type=\"button\" id=\"go\">Stream it here</button>\n"
"<pre id=\"lines\"></pre>\n"
"</section>\n"
"\n"
"<section>\n"
"<h2>CGI</h2>\n"
"<p><a href=\"/cgi/hello.sh\">/cgi/hello.sh</a> is a shell script run as a\n"
"CGI/1.1 program; it shows its environment. "
"<a href=\"/cgi/env.pl?a=1&amp;b=2\">/cgi/env.pl</a> is the same in Perl.</p>\n"
"</section>\n"
"</main>\n"
"\n"
"<script>\n"
"document.getElementById('go').addEventListener('click', async () => {\n"
"  const out = document.getElementById('lines');\n"
"  const t0 = performance.now();\n"
"  const stamp = () => ('+' + Math.round(performance.now() - t0) + ' ms')\n"
"                      .padStart(9);\n"
"  out.textContent = '';\n"
"  try {\n"
"    const res = await fetch('/stream?lines=10&interval_ms=300',\n"
"                            { cache: 'no-store' });\n"
"    const reader = res.body.getReader();\n"
"    const dec = new TextDecoder();\n"
"    let pending = '';\n"
"    for (;;) {\n"
"      const { done, value } = await reader.read();\n"
"      if (done) break;\n"
"      pending += dec.decode(value, { stream: true });\n"
"      let nl;\n"
"      while ((nl = pending.indexOf('\\n')) >= 0) {\n"
"        out.textContent += stamp() + '  ' + pending.slice(0, nl) + '\\n';\n"
"        pending = pending.slice(nl + 1);\n"
"      }\n"
"    }\n"
"    out.textContent += stamp() + '  (end of reply, status ' + res.status\n"
"                       + ')\\n';\n"
"  } catch (e) {\n"
"    out.textContent += stamp() + '  broken: ' + e + '\\n';\n"
"  }\n"
"});\n"
"</script>\n"
"</body>\n"
"</html>\n";

/* The page's own URLs: the prefix, prefix/ and prefix/index.html. */
static int is_page(execd_request *r)
{
    const char *prefix = execd_service_prefix(r), *path = execd_path(r);
    size_t n = strlen(prefix);

    while (n > 0 && prefix[n - 1] == '/') {
        n--;
    }
    if (strncmp(path, prefix, n) != 0) {
        return 0;
    }
    path += n;
    return strcmp(path, "") == 0 || strcmp(path, "/") == 0
           || strcmp(path, "/index.html") == 0;
}

int demo_handler(execd_request *r)
{
    if (!is_page(r)) {
        return 404;
    }
    execd_set_header(r, "Content-Type", "text/html; charset=utf-8");
    execd_set_header(r, "Cache-Control", "no-cache");
    return execd_write(r, page, sizeof(page) - 1) < 0 ? EXECD_ABORTED : 0;
}
