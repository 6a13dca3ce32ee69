/*
 * sp_errors.c -- text for the SP_E* status codes.
 *
 * The codes live in APR's user error range, where apr_strerror() only says
 * "Error string not specified yet"; this file owns the sentences that
 * logs print for them and passes every other status on to APR.
 */
#include <apr_strings.h>

#include "sp_errors.h"

static const char *sp_error_text(apr_status_t status)
{
    switch (status) {
    case SP_EPROTO:   return "peer broke the link protocol";
    case SP_ETOOLONG: return "declared length is over its limit";
    case SP_EAUTH:    return "shared-secret proof did not match";
    case SP_EVERSION: return "protocol or layout version mismatch";
    case SP_EABORTED: return "the other side abandoned the stream";
    case SP_ECLOSED:  return "link or peer closed";
    case SP_ECONFIG:  return "bad configuration value";
    case SP_ENOSLOT:  return "no free slot to claim";
    default:          return NULL;
    }
}

char *sp_strerror(apr_status_t status, char *buf, apr_size_t bufsize)
{
    const char *text;

    if (buf == NULL || bufsize == 0) {
        return buf;
    }
    text = sp_error_text(status);
    if (text == NULL) {
        return apr_strerror(status, buf, bufsize);
    }
    apr_cpystrn(buf, text, bufsize);
    return buf;
}
