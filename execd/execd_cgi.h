/*
 * execd_cgi.h -- runs a CGI/1.1 program (RFC 3875) as a handler.
 *
 * The program gets the RFC 3875 meta-variables in its environment, the
 * request body on stdin and execd's error log as stderr; its stdout is
 * parsed for the CGI header block (Status, Location, Content-Type and
 * other fields) and the rest is streamed to the client as it comes.  Body
 * in and reply out are pumped together so that a program that answers
 * before reading all its input does not deadlock.  If the client goes
 * away or the timeout passes, the program's process group gets SIGTERM,
 * then SIGKILL.
 */
#ifndef EXECD_CGI_H
#define EXECD_CGI_H

#include "execd_api.h"

/* The handler execd uses for `cgi:` services. */
int execd_cgi_handler(execd_request *r);

#endif
