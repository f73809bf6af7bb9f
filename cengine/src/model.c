#include "model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int ort_check(const OrtApi *api, OrtStatus *st, int code, const char *what, Err *err)
{
    if (!st)
        return 0;
    err_set(err, code, "%s: %s", what, api->GetErrorMessage(st));
    api->ReleaseStatus(st);
    return -1;
}

/* Free memory ONNX Runtime allocated for us (names, metadata strings). */
static void ort_free(const OrtCtx *ctx, void *p)
{
    OrtStatus *st = ctx->api->AllocatorFree(ctx->alloc, p);
    if (st)
        ctx->api->ReleaseStatus(st);
}

static char *dup_or_empty(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    char *p = malloc(n + 1);
    if (p) {
        if (n)
            memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

const char *elem_type_name(int elem)
{
    switch (elem) {
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT: return "float32";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8: return "uint8";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8: return "int8";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT16: return "uint16";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16: return "int16";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32: return "int32";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64: return "int64";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING: return "string";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL: return "bool";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16: return "float16";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE: return "float64";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT32: return "uint32";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT64: return "uint64";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16: return "bfloat16";
    default: return "other";
    }
}

size_t elem_type_size(int elem)
{
    switch (elem) {
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL: return 1;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT16:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16: return 2;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT32: return 4;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT64: return 8;
    default: return 0;
    }
}

int ort_ctx_init(OrtCtx *ctx, const OrtLib *lib, Err *err)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->api = lib->api;
    /* FATAL only: errors come back as statuses and are reported as one line by the engine. */
    if (ort_check(ctx->api, ctx->api->CreateEnv(ORT_LOGGING_LEVEL_FATAL, "inference_engine", &ctx->env),
                  EXIT_RUNTIME, "cannot create the ONNX Runtime environment", err) ||
        ort_check(ctx->api, ctx->api->CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &ctx->mem),
                  EXIT_RUNTIME, "cannot create CPU memory info", err) ||
        ort_check(ctx->api, ctx->api->GetAllocatorWithDefaultOptions(&ctx->alloc), EXIT_RUNTIME,
                  "cannot get the default allocator", err)) {
        ort_ctx_free(ctx);
        return -1;
    }
    return 0;
}

void ort_ctx_free(OrtCtx *ctx)
{
    if (!ctx || !ctx->api)
        return;
    if (ctx->mem)
        ctx->api->ReleaseMemoryInfo(ctx->mem);
    if (ctx->env)
        ctx->api->ReleaseEnv(ctx->env);
    memset(ctx, 0, sizeof *ctx);
}

static void spec_free(IoSpec *s)
{
    if (s->sym)
        for (size_t d = 0; d < s->rank; d++)
            free(s->sym[d]);
    free(s->sym);
    free(s->dims);
    free(s->name);
}

/* Describe input or output i (name, element type, dims, symbolic names). */
static int describe(Model *m, int is_input, size_t i, IoSpec *s, Err *err)
{
    const OrtApi *api = m->ctx->api;
    char *name = NULL;
    OrtTypeInfo *ti = NULL;
    OrtStatus *st = is_input ? api->SessionGetInputName(m->sess, i, m->ctx->alloc, &name)
                             : api->SessionGetOutputName(m->sess, i, m->ctx->alloc, &name);
    if (ort_check(api, st, EXIT_INPUT, "cannot read the model's input/output names", err))
        return -1;
    s->name = dup_or_empty(name);
    ort_free(m->ctx, name);
    st = is_input ? api->SessionGetInputTypeInfo(m->sess, i, &ti) : api->SessionGetOutputTypeInfo(m->sess, i, &ti);
    if (!s->name || ort_check(api, st, EXIT_INPUT, "cannot read the model's input/output types", err))
        goto fail;
    enum ONNXType ot;
    if (ort_check(api, api->GetOnnxTypeFromTypeInfo(ti, &ot), EXIT_INPUT, "cannot read type", err))
        goto fail;
    s->is_tensor = ot == ONNX_TYPE_TENSOR;
    if (s->is_tensor) {
        const OrtTensorTypeAndShapeInfo *tsi;
        enum ONNXTensorElementDataType et;
        size_t rank;
        if (ort_check(api, api->CastTypeInfoToTensorInfo(ti, &tsi), EXIT_INPUT, "cannot read tensor info", err) ||
            ort_check(api, api->GetTensorElementType(tsi, &et), EXIT_INPUT, "cannot read element type", err) ||
            ort_check(api, api->GetDimensionsCount(tsi, &rank), EXIT_INPUT, "cannot read rank", err))
            goto fail;
        s->elem = (int)et;
        s->rank = rank;
        s->dims = calloc(rank ? rank : 1, sizeof *s->dims);
        s->sym = calloc(rank ? rank : 1, sizeof *s->sym);
        const char **sym = calloc(rank ? rank : 1, sizeof *sym);
        if (!s->dims || !s->sym || !sym) {
            free(sym);
            err_set(err, EXIT_RUNTIME, "out of memory");
            goto fail;
        }
        if (ort_check(api, api->GetDimensions(tsi, s->dims, rank), EXIT_INPUT, "cannot read dims", err) ||
            ort_check(api, api->GetSymbolicDimensions(tsi, sym, rank), EXIT_INPUT, "cannot read dims", err)) {
            free(sym);
            goto fail;
        }
        for (size_t d = 0; d < rank; d++)
            if (!(s->sym[d] = dup_or_empty(sym[d]))) {
                free(sym);
                err_set(err, EXIT_RUNTIME, "out of memory");
                goto fail;
            }
        free(sym);
    }
    api->ReleaseTypeInfo(ti);
    return 0;
fail:
    if (ti)
        api->ReleaseTypeInfo(ti);
    return -1;
}

static int read_metadata(Model *m, Err *err)
{
    const OrtApi *api = m->ctx->api;
    OrtModelMetadata *md = NULL;
    if (ort_check(api, api->SessionGetModelMetadata(m->sess, &md), EXIT_INPUT, "cannot read model metadata", err))
        return -1;
    char *s = NULL;
    int rc = -1;
    struct {
        OrtStatus *(ORT_API_CALL *get)(const OrtModelMetadata *, OrtAllocator *, char **);
        char **dst;
    } fields[] = {
        {api->ModelMetadataGetProducerName, &m->producer},
        {api->ModelMetadataGetGraphName, &m->graph},
        {api->ModelMetadataGetDomain, &m->domain},
        {api->ModelMetadataGetDescription, &m->description},
    };
    for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
        if (ort_check(api, fields[f].get(md, m->ctx->alloc, &s), EXIT_INPUT, "cannot read model metadata", err))
            goto done;
        *fields[f].dst = dup_or_empty(s);
        ort_free(m->ctx, s);
        if (!*fields[f].dst)
            goto oom;
    }
    if (ort_check(api, api->ModelMetadataGetVersion(md, &m->version), EXIT_INPUT, "cannot read model version", err))
        goto done;
    char **keys = NULL;
    int64_t nkeys = 0;
    if (ort_check(api, api->ModelMetadataGetCustomMetadataMapKeys(md, m->ctx->alloc, &keys, &nkeys), EXIT_INPUT,
                  "cannot read model metadata", err))
        goto done;
    if (nkeys > 0) {
        m->custom_keys = calloc((size_t)nkeys, sizeof *m->custom_keys);
        m->custom_vals = calloc((size_t)nkeys, sizeof *m->custom_vals);
        int ok = m->custom_keys && m->custom_vals;
        for (int64_t k = 0; k < nkeys; k++) {
            if (ok) {
                char *v = NULL;
                OrtStatus *st = api->ModelMetadataLookupCustomMetadataMap(md, m->ctx->alloc, keys[k], &v);
                if (st)
                    api->ReleaseStatus(st);
                m->custom_keys[m->n_custom] = dup_or_empty(keys[k]);
                m->custom_vals[m->n_custom] = dup_or_empty(v);
                if (v)
                    ort_free(m->ctx, v);
                m->n_custom++;
            }
            ort_free(m->ctx, keys[k]);
        }
        ort_free(m->ctx, keys);
        if (!ok)
            goto oom;
        for (size_t k = 0; k < m->n_custom; k++)
            if (!m->custom_keys[k] || !m->custom_vals[k])
                goto oom;
    } else if (keys) {
        ort_free(m->ctx, keys);
    }
    rc = 0;
    goto done;
oom:
    err_set(err, EXIT_RUNTIME, "out of memory");
done:
    api->ReleaseModelMetadata(md);
    return rc;
}

int model_open(Model *m, const OrtCtx *ctx, const char *path, const SessionConfig *cfg, Err *err)
{
    memset(m, 0, sizeof *m);
    m->ctx = ctx;
    const OrtApi *api = ctx->api;
    struct stat st;
    if (stat(path, &st) != 0) {
        err_set(err, EXIT_INPUT, "cannot open model %s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        err_set(err, EXIT_INPUT, "model %s is not a regular file", path);
        return -1;
    }
    if (st.st_size == 0) {
        err_set(err, EXIT_INPUT, "model %s is empty", path);
        return -1;
    }
    char what[4200];
    snprintf(what, sizeof what, "cannot load model %s", path);
    if (ort_check(api, api->CreateSessionOptions(&m->opts), EXIT_RUNTIME, "cannot create session options", err) ||
        ort_check(api, api->SetIntraOpNumThreads(m->opts, cfg->threads), EXIT_RUNTIME, "cannot set threads", err) ||
        ort_check(api, api->SetSessionGraphOptimizationLevel(m->opts, cfg->opt_level), EXIT_RUNTIME,
                  "cannot set the graph optimization level", err) ||
        ort_check(api, api->CreateSession(ctx->env, path, m->opts, &m->sess), EXIT_INPUT, what, err))
        goto fail;
    if (ort_check(api, api->SessionGetInputCount(m->sess, &m->n_in), EXIT_INPUT, what, err) ||
        ort_check(api, api->SessionGetOutputCount(m->sess, &m->n_out), EXIT_INPUT, what, err))
        goto fail;
    m->in = calloc(m->n_in ? m->n_in : 1, sizeof *m->in);
    m->out = calloc(m->n_out ? m->n_out : 1, sizeof *m->out);
    if (!m->in || !m->out) {
        err_set(err, EXIT_RUNTIME, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < m->n_in; i++)
        if (describe(m, 1, i, &m->in[i], err) != 0)
            goto fail;
    for (size_t i = 0; i < m->n_out; i++)
        if (describe(m, 0, i, &m->out[i], err) != 0)
            goto fail;
    if (read_metadata(m, err) != 0)
        goto fail;
    return 0;
fail:
    model_close(m);
    return -1;
}

void model_close(Model *m)
{
    if (!m || !m->ctx)
        return;
    const OrtApi *api = m->ctx->api;
    if (m->in)
        for (size_t i = 0; i < m->n_in; i++)
            spec_free(&m->in[i]);
    if (m->out)
        for (size_t i = 0; i < m->n_out; i++)
            spec_free(&m->out[i]);
    free(m->in);
    free(m->out);
    for (size_t k = 0; k < m->n_custom; k++) {
        free(m->custom_keys[k]);
        free(m->custom_vals[k]);
    }
    free(m->custom_keys);
    free(m->custom_vals);
    free(m->producer);
    free(m->graph);
    free(m->domain);
    free(m->description);
    if (m->sess)
        api->ReleaseSession(m->sess);
    if (m->opts)
        api->ReleaseSessionOptions(m->opts);
    memset(m, 0, sizeof *m);
}

int model_run1(const Model *m, size_t in_index, int elem, void *data, size_t data_bytes,
               const int64_t *shape, size_t rank, size_t out_index, OrtValue **out, double *run_seconds,
               Err *err)
{
    const OrtApi *api = m->ctx->api;
    OrtValue *input = NULL;
    *out = NULL;
    if (ort_check(api, api->CreateTensorWithDataAsOrtValue(m->ctx->mem, data, data_bytes, shape, rank,
                                                           (ONNXTensorElementDataType)elem, &input),
                  EXIT_RUNTIME, "cannot create the input tensor", err))
        return -1;
    const char *in_names[1] = {m->in[in_index].name};
    const char *out_names[1] = {m->out[out_index].name};
    const OrtValue *inputs[1] = {input};
    double t0 = run_seconds ? now_seconds() : 0.0;
    OrtStatus *st = api->Run(m->sess, NULL, in_names, inputs, 1, out_names, 1, out);
    if (run_seconds)
        *run_seconds = now_seconds() - t0;
    api->ReleaseValue(input);
    if (ort_check(api, st, EXIT_RUNTIME, "ONNX Runtime Run failed", err)) {
        *out = NULL;
        return -1;
    }
    return 0;
}
