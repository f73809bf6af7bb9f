/* Bounds on every size read from a file or an option, checked before anything is allocated. The
 * converter uses the same numbers (converter/artifacts.py, BOUNDS); tests/test_bounds.py compares them. */
#ifndef CENGINE_BOUNDS_H
#define CENGINE_BOUNDS_H

#define BOUND_SEQ_LEN_MIN 1L
#define BOUND_SEQ_LEN_MAX 1000000L
#define BOUND_VOCAB_SIZE_MIN 1L
#define BOUND_VOCAB_SIZE_MAX 100000000L
#define BOUND_TOP_G_MIN 0L
#define BOUND_TOP_G_MAX 100000000L
#define BOUND_HEADER_FIELDS_MIN 0L
#define BOUND_HEADER_FIELDS_MAX 100000L
#define BOUND_SENSORS_MIN 1L
#define BOUND_SENSORS_MAX 100000L
#define BOUND_SCALES_MIN 1L
#define BOUND_SCALES_MAX 100000L
#define BOUND_STEP_MIN 1L
#define BOUND_STEP_MAX 100000L
#define BOUND_OPSET_MIN 1L
#define BOUND_OPSET_MAX 100000L
#define BOUND_BATCH_MIN 1L
#define BOUND_BATCH_MAX 1048576L

#endif
