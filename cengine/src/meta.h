/* <model>.onnx.meta.json: the fields the engine uses, plus printable copies of the rest. */
#ifndef CENGINE_META_H
#define CENGINE_META_H

#include "common.h"

typedef struct {
    long format_version;
    char *model_type;  /* "deeplog" | "mscred" */
    char *input_name;
    char *output_name;
    char *log_format;  /* may be NULL */
    long vocab_size;   /* -1 when absent */
    long seq_len;      /* -1 when absent */
    long top_g;        /* default 9 */
    long header_fields;/* -1 when absent */
    long opset;        /* -1 when absent */
    long sensors, scales, step; /* mscred; -1 when absent */
    /* Compact JSON of the nested records, for info mode (NULL when absent). */
    char *dynamic_axes, *export_rec, *versions, *model_config;
} Meta;

/* Parse and validate: format_version 1, model_type, input/output names; the model's own
 * keys are checked when present (integers in range). Missing model keys stay -1. */
int meta_parse(const char *json, size_t len, const char *origin, Meta *out, Err *err);
int meta_load(const char *path, Meta *out, Err *err);
/* Require the keys detection needs (vocab_size, seq_len, header_fields). */
int meta_require_deeplog(const Meta *m, const char *origin, Err *err);
void meta_free(Meta *m);

#endif
