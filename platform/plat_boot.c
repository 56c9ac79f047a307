#define _POSIX_C_SOURCE 200809L
#include "plat_boot.h"

#include <ctype.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "plat_log.h"
#include "wr_error.h"

#define BOOT_ID_PATH "/proc/sys/kernel/random/boot_id"

/* 8-4-4-4-12 hexadecimal digits. */
static bool is_uuid(const char *s)
{
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

int plat_boot_id(char *out, size_t out_len)
{
    char buf[64];
    ssize_t n;
    int fd;

    if (out == NULL || out_len < PLAT_BOOT_ID_LEN)
        return WR_E_INVAL;
    fd = open(BOOT_ID_PATH, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;

        PLAT_WARN("boot", "cannot open %s (errno %d)", BOOT_ID_PATH, err);
        return err == ENOENT ? WR_E_NOTFOUND : err == EACCES ? WR_E_DENIED : WR_E_IO;
    }
    do
        n = read(fd, buf, sizeof(buf) - 1);
    while (n < 0 && errno == EINTR);
    close(fd);
    if (n < 36 || !is_uuid(buf))
        return n < 0 ? WR_E_IO : WR_E_PARSE;
    memcpy(out, buf, 36);
    out[36] = '\0';
    return WR_OK;
}
