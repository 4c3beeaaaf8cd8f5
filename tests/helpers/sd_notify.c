/* sd-notify MESSAGE: send MESSAGE (default READY=1) as one datagram to
 * $NOTIFY_SOCKET, as sd_notify(3) does. Built static by tests/notify.rs
 * and copied into a container's root filesystem. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

int main(int argc, char **argv) {
    const char *path = getenv("NOTIFY_SOCKET");
    const char *msg = argc > 1 ? argv[1] : "READY=1";
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int s;
    if (!path || strlen(path) >= sizeof a.sun_path)
        return 2;
    strcpy(a.sun_path, path);
    s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return 1;
    return sendto(s, msg, strlen(msg), 0, (struct sockaddr *)&a, sizeof a) < 0;
}
