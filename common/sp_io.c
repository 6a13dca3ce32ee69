/*
 * sp_io.c -- whole reads and writes on plain file descriptors.
 *
 * Used where APR's own file and socket objects are not in play (pipes to
 * CGI programs, test peers).  A signal that interrupts a call is not an
 * error, so EINTR is retried; a short transfer is continued; and a stream
 * that ends before the promised bytes came is reported as closed, never
 * as a short success.
 */
#include <errno.h>
#include <limits.h>
#include <unistd.h>

#include "sp_errors.h"
#include "sp_io.h"

/* read(2)/write(2) results past SSIZE_MAX are implementation-defined. */
#define SP_IO_CHUNK_MAX ((apr_size_t)SSIZE_MAX)

apr_status_t sp_write_full(int fd, const void *buf, apr_size_t len)
{
    const char *p = buf;
    apr_size_t chunk;
    ssize_t n;

    if (p == NULL && len > 0) {
        return APR_EINVAL;
    }
    while (len > 0) {
        chunk = len < SP_IO_CHUNK_MAX ? len : SP_IO_CHUNK_MAX;
        n = write(fd, p, chunk);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return APR_FROM_OS_ERROR(errno);
        }
        p += n;
        len -= (apr_size_t)n;
    }
    return APR_SUCCESS;
}

apr_status_t sp_read_full(int fd, void *buf, apr_size_t len)
{
    char *p = buf;
    apr_size_t got = 0, chunk;
    ssize_t n;

    if (p == NULL && len > 0) {
        return APR_EINVAL;
    }
    while (got < len) {
        chunk = len - got;
        if (chunk > SP_IO_CHUNK_MAX) {
            chunk = SP_IO_CHUNK_MAX;
        }
        n = read(fd, p + got, chunk);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return APR_FROM_OS_ERROR(errno);
        }
        if (n == 0) {
            return got == 0 ? APR_EOF : SP_ECLOSED;
        }
        got += (apr_size_t)n;
    }
    return APR_SUCCESS;
}
