#include "reader.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define READER_START_CAP ((size_t)1 << 20)

static void read_error(unsigned long long line, int errnum, const char *detail, Err *err)
{
    err_set(err, EXIT_INPUT, "cannot read the log at line %llu: %s%s", line, strerror(errnum), detail ? detail : "");
}

void reader_fail(const LineReader *r, int errnum, const char *detail, Err *err)
{
    read_error(r->line, errnum, detail, err);
}

int reader_init(LineReader *r, int fd, Err *err)
{
    struct stat st;
    memset(r, 0, sizeof *r);
    r->fd = fd;
    r->wake_fd = -1;
    r->live = fstat(fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode));
    r->cap = READER_START_CAP;
    if (!(r->buf = malloc(r->cap))) {
        read_error(1, ENOMEM, NULL, err);
        return -1;
    }
    return 0;
}

void reader_free(LineReader *r)
{
    free(r->buf);
    memset(r, 0, sizeof *r);
}

/* Make room for more input behind the buffered bytes: move them to the front, else grow. */
static int make_room(LineReader *r, Err *err)
{
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->scan -= r->start;
        r->start = 0;
    }
    if (r->end < r->cap)
        return 0;
    size_t cap = r->cap * 2;
    char *buf = cap > r->cap ? realloc(r->buf, cap) : NULL;
    if (!buf) {
        char detail[96];
        snprintf(detail, sizeof detail, " (the line is longer than %zu bytes)", r->end);
        read_error(r->line + 1, ENOMEM, detail, err);
        return -1;
    }
    r->buf = buf;
    r->cap = cap;
    return 0;
}

int reader_next(LineReader *r, const char **line, size_t *len, Err *err)
{
    for (;;) {
        const char *nl = memchr(r->buf + r->scan, '\n', r->end - r->scan);
        if (nl || (r->eof && r->start < r->end)) {
            size_t stop = nl ? (size_t)(nl - r->buf) : r->end;
            *line = r->buf + r->start;
            *len = stop - r->start;
            r->start = r->scan = nl ? stop + 1 : stop;
            r->line++;
            return 1;
        }
        r->scan = r->end;
        if (r->eof)
            return 0;
        if (make_room(r, err) != 0)
            return -1;
        if (r->live && r->wake_fd >= 0) {
            struct pollfd p[2] = {{r->fd, POLLIN, 0}, {r->wake_fd, POLLIN, 0}};
            if (poll(p, 2, -1) < 0 && errno != EINTR) {
                read_error(r->line + 1, errno, NULL, err);
                return -1;
            }
            if (p[1].revents) {
                r->eof = 1;
                return 0;
            }
            if (!p[0].revents)
                continue;
        }
        ssize_t got = read(r->fd, r->buf + r->end, r->cap - r->end);
        if (got > 0) {
            r->end += (size_t)got;
        } else if (got == 0) {
            r->eof = 1;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) { /* a non-blocking descriptor: wait for it */
            struct pollfd p = {r->fd, POLLIN, 0};
            if (poll(&p, 1, -1) < 0 && errno != EINTR) {
                read_error(r->line + 1, errno, NULL, err);
                return -1;
            }
        } else if (errno != EINTR) {
            read_error(r->line + 1, errno, NULL, err);
            return -1;
        }
    }
}

void reader_wake_on(LineReader *r, int wake_fd)
{
    r->wake_fd = wake_fd;
}

int reader_idle(const LineReader *r)
{
    if (!r->live || r->eof || memchr(r->buf + r->scan, '\n', r->end - r->scan))
        return 0;
    struct pollfd p = {r->fd, POLLIN, 0};
    return poll(&p, 1, 0) == 0;
}
