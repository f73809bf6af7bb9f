/* realpath() is XSI. */
#define _XOPEN_SOURCE 700

#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Write through fd (closed here); 0 or -1 with errno set. */
static int emit_to(int fd, int (*emit)(FILE *, void *), void *ctx)
{
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    int rc = emit(f, ctx);
    int e = errno;
    if (fclose(f) != 0 && rc == 0)
        return -1;
    errno = e;
    return rc;
}

static int in_place(const char *path, int (*emit)(FILE *, void *), void *ctx, Err *err)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || emit_to(fd, emit, ctx) != 0) {
        err_set(err, EXIT_OUTPUT, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* A fresh file beside target (O_EXCL, so the umask applies): its name in *tmp, its descriptor. */
static int create_beside(const char *target, char **tmp)
{
    size_t n = strlen(target);
    char *name = malloc(n + 48);
    if (!name) {
        errno = ENOMEM;
        return -1;
    }
    for (unsigned attempt = 0; attempt < 1000; attempt++) {
        snprintf(name, n + 48, "%s.tmp.%ld.%u", target, (long)getpid(), attempt);
        int fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0) {
            *tmp = name;
            return fd;
        }
        if (errno != EEXIST)
            break;
    }
    free(name);
    return -1;
}

int write_output(const char *path, int (*emit)(FILE *, void *), void *ctx, Err *err)
{
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        if (S_ISDIR(st.st_mode)) {
            err_set(err, EXIT_OUTPUT, "cannot write %s: %s", path, strerror(EISDIR));
            return -1;
        }
        return in_place(path, emit, ctx, err);
    }
    /* A symlink to a regular file: replace the file it points to and keep the link. */
    char *real = NULL;
    struct stat lst;
    if (lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode) && !(real = realpath(path, NULL))) {
        err_set(err, EXIT_OUTPUT, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    const char *target = real ? real : path;
    char *tmp = NULL;
    int fd = create_beside(target, &tmp);
    if (fd < 0) {
        err_set(err, EXIT_OUTPUT, "cannot create a file beside %s: %s", path, strerror(errno));
        free(real);
        return -1;
    }
    int rc = 0;
    if (emit_to(fd, emit, ctx) != 0 || rename(tmp, target) != 0) {
        err_set(err, EXIT_OUTPUT, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        rc = -1;
    }
    free(tmp);
    free(real);
    return rc;
}
