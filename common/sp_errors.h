/*
 * sp_errors.h -- status codes of mod_slotproxy and execd.
 *
 * Everything in common/ returns apr_status_t.  Conditions APR has no code
 * for live here, in APR's user error range, so that apr_strerror() callers
 * can still tell them apart; sp_strerror() renders both kinds.
 */
#ifndef SP_ERRORS_H
#define SP_ERRORS_H

#include <apr_errno.h>

#define SP_ERRSPACE (APR_OS_START_USERERR + 7100)

#define SP_EPROTO    (SP_ERRSPACE + 1) /* peer broke the link protocol */
#define SP_ETOOLONG  (SP_ERRSPACE + 2) /* a declared length is past its limit */
#define SP_EAUTH     (SP_ERRSPACE + 3) /* shared-secret proof did not match */
#define SP_EVERSION  (SP_ERRSPACE + 4) /* protocol or layout version mismatch */
#define SP_EABORTED  (SP_ERRSPACE + 5) /* the other side abandoned the stream */
#define SP_ECLOSED   (SP_ERRSPACE + 6) /* link or peer closed */
#define SP_ECONFIG   (SP_ERRSPACE + 7) /* bad configuration value */
#define SP_ENOSLOT   (SP_ERRSPACE + 8) /* no free slot to claim */

/* Writes a description of status into buf (NUL-terminated) and returns buf.
 * Handles the SP_E* codes above and defers to apr_strerror() otherwise. */
char *sp_strerror(apr_status_t status, char *buf, apr_size_t bufsize);

#endif
