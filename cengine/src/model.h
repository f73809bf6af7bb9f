/* An ONNX Runtime session with its inputs/outputs described, and typed Run helpers. */
#ifndef CENGINE_MODEL_H
#define CENGINE_MODEL_H

#include "common.h"
#include "ort_loader.h"

typedef struct {
    char *name;
    int is_tensor;
    int elem;       /* ONNXTensorElementDataType */
    size_t rank;
    int64_t *dims;  /* -1 (or 0 from some exporters) for a symbolic/unknown dim */
    char **sym;     /* symbolic dim names, "" when none */
} IoSpec;

typedef struct {
    const OrtApi *api;
    OrtEnv *env;
    OrtMemoryInfo *mem;
    OrtAllocator *alloc;
} OrtCtx;

/* How sessions are made: intra-op threads and the graph optimisation level (ORT_DISABLE_ALL,
 * ORT_ENABLE_BASIC, ORT_ENABLE_EXTENDED or ORT_ENABLE_ALL, ONNX Runtime's default). */
typedef struct {
    int threads;
    GraphOptimizationLevel opt_level;
} SessionConfig;

typedef struct {
    const OrtCtx *ctx;
    OrtSessionOptions *opts;
    OrtSession *sess;
    size_t n_in, n_out;
    IoSpec *in, *out;
    char *producer, *graph, *domain, *description;
    int64_t version;
    size_t n_custom;
    char **custom_keys, **custom_vals;
} Model;

int ort_ctx_init(OrtCtx *ctx, const OrtLib *lib, Err *err);
void ort_ctx_free(OrtCtx *ctx);

/* Load a model file with a session made as cfg says. Bad or unreadable models -> EXIT_INPUT. */
int model_open(Model *m, const OrtCtx *ctx, const char *path, const SessionConfig *cfg, Err *err);
void model_close(Model *m);

/* Set err from an OrtStatus (and release it); returns -1 if status is an error, else 0. */
int ort_check(const OrtApi *api, OrtStatus *st, int code, const char *what, Err *err);

/* Run with one input tensor over caller memory and fetch one output. On success *out holds
 * an OrtValue the caller releases with api->ReleaseValue. If run_seconds is not NULL it gets
 * the time spent inside OrtApi::Run alone (for the overhead benchmark). */
int model_run1(const Model *m, size_t in_index, int elem, void *data, size_t data_bytes,
               const int64_t *shape, size_t rank, size_t out_index, OrtValue **out, double *run_seconds,
               Err *err);

const char *elem_type_name(int elem);
/* Same element numbering as ONNX TensorProto; item size for plain numeric types, 0 otherwise. */
size_t elem_type_size(int elem);

#endif
