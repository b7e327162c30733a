/* pdf_publish.c — see pdf_publish.h. */
#include "pdf_publish.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static unsigned counter; /* part files made by this process */

static int io_fail(char *err, size_t errlen, const char *what, const char *name)
{
    snprintf(err, errlen, "%s %s: %s", what, name, strerror(errno));
    return SL_EIO;
}

/* Splits NAME into at most 4 segments in SEGS (copied into BUF); each
 * segment is [A-Za-z0-9_][A-Za-z0-9._-]*, the last ends in ".pdf". Returns
 * the count, or -1. */
static int split_name(const char *name, char *buf, size_t buflen, char **segs)
{
    if (strlen(name) >= buflen)
        return -1;
    strcpy(buf, name);
    int n = 0;
    for (char *s = buf, *save = NULL; (s = strtok_r(s, "/", &save)); s = NULL) {
        if (n == 4 || !(isalnum((unsigned char)s[0]) || s[0] == '_'))
            return -1;
        for (char *c = s; *c; c++)
            if (!isalnum((unsigned char)*c) && !strchr("._-", *c))
                return -1;
        segs[n++] = s;
    }
    if (!n || name[0] == '/' || name[strlen(name) - 1] == '/' || strstr(name, "//"))
        return -1;
    size_t last = strlen(segs[n - 1]);
    if (last < 5 || strcmp(segs[n - 1] + last - 4, ".pdf"))
        return -1;
    return n;
}

static int copy_fd(int in, int out)
{
    char buf[65536];
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return (int)n;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return -1;
            off += w;
        }
    }
}

int sl_pdf_publish(const char *src, const char *dir, const char *name, char *err, size_t errlen)
{
    char buf[512], *segs[4];
    int n = split_name(name, buf, sizeof buf, segs);
    if (n < 0) {
        snprintf(err, errlen, "deliver.file.name: \"%.100s\" is not a plain relative .pdf name",
                 name);
        return SL_EINVAL;
    }
    int top = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (top < 0)
        return io_fail(err, errlen, "cannot open --pdf-dir", dir);
    int rc = SL_EIO, at = top;
    for (int i = 0; i < n - 1; i++) {
        if (mkdirat(at, segs[i], 0755) && errno != EEXIST) {
            io_fail(err, errlen, "cannot make directory", segs[i]);
            goto out;
        }
        int next = openat(at, segs[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0) {
            io_fail(err, errlen, "not a directory (symbolic links are refused):", segs[i]);
            goto out;
        }
        if (at != top)
            close(at);
        at = next;
    }
    char part[96];
    snprintf(part, sizeof part, "%s%d-%u", SL_PDF_PART_PREFIX, (int)getpid(),
             __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        io_fail(err, errlen, "cannot read", src);
        goto out;
    }
    int fd = openat(top, part, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        io_fail(err, errlen, "cannot write in", dir);
        close(in);
        goto out;
    }
    int bad = copy_fd(in, fd) || fsync(fd);
    if (bad)
        io_fail(err, errlen, "cannot write in", dir);
    close(in);
    if (close(fd) && !bad)
        bad = io_fail(err, errlen, "cannot write in", dir);
    if (!bad && renameat(top, part, at, segs[n - 1]))
        bad = io_fail(err, errlen, "cannot rename into", name);
    if (bad) {
        unlinkat(top, part, 0);
        goto out;
    }
    fsync(at); /* the rename itself, durable */
    rc = 0;
out:
    if (at != top)
        close(at);
    close(top);
    return rc;
}
