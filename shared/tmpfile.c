/* tmpfile.c — see tmpfile.h. */
#include "tmpfile.h"
#include "util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static unsigned counter; /* temporary names made by this process */

static int io_fail(char *err, size_t errlen, const char *what, const char *name)
{
    snprintf(err, errlen, "%s %s: %s", what, name, strerror(errno));
    return SL_EIO;
}

void sl_tmpfile_name(char *out, size_t outlen, const char *dir, const char *prefix, const char *tag,
                     const char *suffix)
{
    snprintf(out, outlen, "%s/%s%d-%s-%u%s", dir, prefix, (int)getpid(), tag,
             __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED), suffix);
}

/* Whether PID is a running process named EXE. */
static int running(pid_t pid, const char *exe)
{
    char path[64], comm[64];
    snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) /* gone, or no /proc: ask the kernel */
        return access("/proc/self/comm", R_OK) ? kill(pid, 0) == 0 || errno == EPERM : 0;
    int ok = fgets(comm, sizeof comm, f) != NULL;
    fclose(f);
    if (!ok)
        return 0;
    comm[strcspn(comm, "\n")] = '\0';
    return !strncmp(comm, exe, 15); /* comm keeps 15 characters */
}

int sl_tmpfile_sweep(const char *dir, const char *prefix, const char *exe, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d)
        return io_fail(err, errlen, "cannot read", dir);
    size_t plen = strlen(prefix);
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, prefix, plen) || !isdigit((unsigned char)e->d_name[plen]))
            continue;
        char *end;
        long pid = strtol(e->d_name + plen, &end, 10);
        if (*end != '-' || pid <= 0 || pid > 1 << 22)
            continue;
        if (pid != getpid() && running((pid_t)pid, exe))
            continue;
        if (unlinkat(dirfd(d), e->d_name, 0) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}

int sl_mkdir_p(const char *dir, mode_t mode, char *err, size_t errlen)
{
    char path[4096];
    if (!*dir || strlen(dir) >= sizeof path) {
        snprintf(err, errlen, "bad directory name \"%.100s\"", dir);
        return SL_EIO;
    }
    strcpy(path, dir);
    for (char *s = path + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(path, mode) && errno != EEXIST)
            return io_fail(err, errlen, "cannot make", path);
        *s = '/';
    }
    if (mkdir(path, mode) && errno != EEXIST)
        return io_fail(err, errlen, "cannot make", path);
    struct stat st;
    if (stat(path, &st))
        return io_fail(err, errlen, "cannot use", path);
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s is not a directory", path);
        return SL_EIO;
    }
    if (access(path, W_OK | X_OK))
        return io_fail(err, errlen, "cannot write in", path);
    return 0;
}
