/*
 * genpat.c -- writes the test byte pattern that gen.so serves.
 *
 *     genpat N        writes N bytes to stdout, byte i = (i * 31 + 7) & 0xff
 *
 * The integration tests compare the sha256 of a download from gen_handler
 * with the sha256 of this output, so that a body of any size is checked
 * without keeping a copy of it.  The pattern has period 256 and every byte
 * value appears once per period, so a dropped, repeated or reordered chunk
 * of any size other than a multiple of 256 changes the digest.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GENPAT_BUF 65536   /* a multiple of the period 256 */

/* Writes all of buf; returns 0, or -1 with errno set. */
static int write_full(int fd, const unsigned char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static unsigned char buf[GENPAT_BUF];
    unsigned long long total, left;
    char *end;
    size_t i;

    if (argc != 2) {
        fprintf(stderr, "usage: genpat BYTES\n");
        return 2;
    }
    errno = 0;
    total = strtoull(argv[1], &end, 10);
    if (errno != 0 || end == argv[1] || *end != '\0' || argv[1][0] == '-') {
        fprintf(stderr, "genpat: not a byte count: %s\n", argv[1]);
        return 2;
    }
    /* Because the buffer length is a multiple of 256, every buffer starts
     * at a pattern offset that is 0 modulo 256 and can be reused as is. */
    for (i = 0; i < sizeof(buf); i++) {
        buf[i] = (unsigned char)((i * 31 + 7) & 0xff);
    }
    for (left = total; left > 0;) {
        size_t n = left < sizeof(buf) ? (size_t)left : sizeof(buf);

        if (write_full(STDOUT_FILENO, buf, n) < 0) {
            fprintf(stderr, "genpat: write: %s\n", strerror(errno));
            return 1;
        }
        left -= n;
    }
    return 0;
}
