/* Fault injection for tests/serve.rs, preloaded into `kairos serve` (LD_PRELOAD): fdatasync
 * fails with ENOSPC on a file whose path contains $FAULT_PATH once it is larger than
 * $FAULT_SYNC_ABOVE bytes, as a full disk or a quota reported only at the sync (NFS, thin
 * volumes). Everything else goes to the real call. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int faulty(int fd) {
    const char *part = getenv("FAULT_PATH");
    const char *above = getenv("FAULT_SYNC_ABOVE");
    char link[64], target[4096];
    struct stat st;
    if (!part || !above) return 0;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n < 0) return 0;
    target[n] = 0;
    return strstr(target, part) && fstat(fd, &st) == 0 && st.st_size > atoll(above);
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    if (faulty(fd)) {
        errno = ENOSPC;
        return -1;
    }
    return real(fd);
}
