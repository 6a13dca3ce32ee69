/*
 * sp_io.h -- whole reads and writes on file descriptors (pipes to CGI
 * programs, test peers): retry on EINTR, treat a 0-byte read before the
 * end as a reset.
 */
#ifndef SP_IO_H
#define SP_IO_H

#include <apr.h>
#include <apr_errno.h>

/* Writes all len bytes: APR_SUCCESS or the errno as apr_status_t
 * (EPIPE when the reader went away). */
apr_status_t sp_write_full(int fd, const void *buf, apr_size_t len);

/* Reads exactly len bytes: APR_SUCCESS, APR_EOF if the stream ended before
 * the first byte, SP_ECLOSED if it ended part way, or the errno. */
apr_status_t sp_read_full(int fd, void *buf, apr_size_t len);

#endif
