/* Writing an output file safely. A new path or a regular file gets a temporary file beside it,
 * renamed over it once complete: a failed write never leaves a half-written file nor clobbers a
 * good one. Anything else that exists (a device such as /dev/full or /dev/stdout, a FIFO) is
 * written in place: renaming over it would replace the device node with a regular file. Files
 * are created with mode 0666 less the umask. */
#ifndef CENGINE_OUTFILE_H
#define CENGINE_OUTFILE_H

#include <stdio.h>

#include "common.h"

/* Call emit(f, ctx) on a stream for path (emit returns 0, or -1 with errno set). Every failure is
 * EXIT_OUTPUT, "cannot write PATH: reason". */
int write_output(const char *path, int (*emit)(FILE *f, void *ctx), void *ctx, Err *err);

#endif
