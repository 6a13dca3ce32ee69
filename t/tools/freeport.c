/*
 * freeport.c -- prints a TCP port on 127.0.0.1 that was free a moment ago.
 *
 * The integration tests start every server on a port picked this way, so
 * that several test runs (and a demo on 8080) can share one machine.  The
 * kernel chooses the port (bind to port 0); the socket is closed before
 * printing, so the caller must still handle the rare case of someone else
 * taking the port in between (the harness retries a start that fails).
 *
 *     freeport        prints one port
 *     freeport N      prints N different ports, one a line
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FREEPORT_MAX 64

/* Returns a port the kernel handed out for 127.0.0.1:0, or -1 (errno). */
static int pick_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd, port = -1;

    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0
        && getsockname(fd, (struct sockaddr *)&sa, &len) == 0) {
        port = ntohs(sa.sin_port);
    }
    close(fd);
    return port;
}

int main(int argc, char **argv)
{
    int ports[FREEPORT_MAX];
    int want = 1, have = 0, tries = 0;

    if (argc > 1) {
        want = atoi(argv[1]);
        if (want < 1 || want > FREEPORT_MAX) {
            fprintf(stderr, "usage: freeport [1..%d]\n", FREEPORT_MAX);
            return 2;
        }
    }
    /* Ports are closed again at once, so the kernel may hand one out
     * twice; keep asking until there are `want` distinct ones. */
    while (have < want && tries++ < 100 * want) {
        int i, port = pick_port();

        if (port < 0) {
            fprintf(stderr, "freeport: bind 127.0.0.1:0: %s\n", strerror(errno));
            return 1;
        }
        for (i = 0; i < have && ports[i] != port; i++) {
        }
        if (i == have) {
            ports[have++] = port;
            printf("%d\n", port);
        }
    }
    return have == want ? 0 : 1;
}
