/* Detection's input side on a thread of its own: read lines, skip blank ones, cut the header,
 * clean the content and match it, and hand (line number, template key) on in blocks. Matching
 * the next lines thus overlaps scoring the previous ones, on a second core. */
#ifndef CENGINE_FEEDER_H
#define CENGINE_FEEDER_H

#include "match.h"
#include "reader.h"

typedef struct {
    unsigned long long line;
    long key; /* -1: no template matched (or the line is too short for the header) */
} Keyed;

typedef struct {
    Keyed *rec;
    size_t n;
    int idle; /* a live input had nothing more ready after these lines */
    int last; /* no block follows: the end of the input, or a read error (see feeder_finish) */
} KeyBlock;

typedef struct Feeder Feeder;

/* Start reading in and matching against m (both used by the feeder's thread alone until
 * feeder_finish). */
int feeder_start(Feeder **out, LineReader *in, Matcher *m, long header_fields, Err *err);

/* The next block, waiting for it if need be; hand it back with feeder_done before taking another. */
const KeyBlock *feeder_take(Feeder *f);
void feeder_done(Feeder *f);

/* Stop the thread if it still runs (even in a blocking read of a live input), wait for it and
 * free f. 0, or -1 with the read error that ended the input. */
int feeder_finish(Feeder *f, Err *err);

#endif
