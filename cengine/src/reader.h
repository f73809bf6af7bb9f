/* Log lines from a file descriptor, read with read(2) into a buffer of our own, so that every
 * failure (an I/O error, a line too long to hold in memory) is reported with its line number
 * instead of looking like the end of the input, and so that a live input (pipe, terminal,
 * socket) can be asked whether more is ready without blocking. */
#ifndef CENGINE_READER_H
#define CENGINE_READER_H

#include "common.h"

typedef struct {
    int fd;
    int live;                 /* not a regular file: input arrives over time */
    int wake_fd;              /* readable: stop waiting for a live input (-1: none) */
    int eof;
    char *buf;
    size_t cap, start, end;   /* buffered bytes are buf[start, end) */
    size_t scan;              /* buf[start, scan) is known to hold no '\n' */
    unsigned long long line;  /* number of the last line handed out */
} LineReader;

/* Start reading fd (not owned: the caller closes it). Fails only on out of memory. */
int reader_init(LineReader *r, int fd, Err *err);
void reader_free(LineReader *r);

/* The next line, without its '\n' (the last line of the input may lack one): 1 with *line and
 * *len set (valid until the next call), 0 at the end of the input, -1 on a read error or when
 * the line does not fit in memory: err is then EXIT_INPUT "cannot read the log at line N: ...". */
int reader_next(LineReader *r, const char **line, size_t *len, Err *err);

/* 1 if reader_next would wait: the input is live, no whole line is buffered, and nothing can be
 * read from the descriptor right now. */
int reader_idle(const LineReader *r);


/* While wake_fd (-1: none) is readable, a live input reads as ended instead of being waited for:
 * another thread's way to stop this one. */
void reader_wake_on(LineReader *r, int wake_fd);

/* Report a failure to handle the line just handed out (e.g. no memory to clean it) as a read
 * error of that line. */
void reader_fail(const LineReader *r, int errnum, const char *detail, Err *err);

#endif
