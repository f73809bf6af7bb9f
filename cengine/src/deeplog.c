#include "deeplog.h"

#include <stdlib.h>
#include <string.h>

void deeplog_close(DeepLog *d)
{
    if (!d)
        return;
    model_close(&d->model);
    matcher_free(&d->matcher);
    vocab_free(&d->vocab);
    meta_free(&d->meta);
}

static long find_io(const IoSpec *s, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s[i].name, name) == 0)
            return (long)i;
    return -1;
}

/* The model's input and output as the metadata names them, typed and shaped for DeepLog. */
static int check_model(DeepLog *d, const char *onnx, Err *err)
{
    long in = find_io(d->model.in, d->model.n_in, d->meta.input_name);
    long out = find_io(d->model.out, d->model.n_out, d->meta.output_name);
    if (in < 0 || out < 0) {
        err_set(err, EXIT_INPUT, "%s has no %s named \"%.100s\" (as the metadata says)", onnx, in < 0 ? "input" : "output",
                in < 0 ? d->meta.input_name : d->meta.output_name);
        return -1;
    }
    const IoSpec *is = &d->model.in[in], *os = &d->model.out[out];
    if (d->model.n_in != 1) {
        err_set(err, EXIT_INPUT, "%s has %zu inputs; a DeepLog model has one", onnx, d->model.n_in);
        return -1;
    }
    if (!is->is_tensor || is->elem != ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64 || is->rank != 2) {
        err_set(err, EXIT_INPUT, "%s input \"%s\" must be an int64 tensor [batch, sequence]", onnx, is->name);
        return -1;
    }
    if (is->dims[1] > 0 && is->dims[1] != d->seq_len) {
        err_set(err, EXIT_INPUT, "%s takes sequences of %lld keys but the metadata says seq_len %ld", onnx,
                (long long)is->dims[1], d->seq_len);
        return -1;
    }
    if (!os->is_tensor || os->elem != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT || os->rank != 2) {
        err_set(err, EXIT_INPUT, "%s output \"%s\" must be a float32 tensor [batch, vocab]", onnx, os->name);
        return -1;
    }
    if (os->dims[1] > 0 && os->dims[1] != d->vocab_size) {
        err_set(err, EXIT_INPUT, "%s outputs %lld logits but the vocab has %ld templates", onnx,
                (long long)os->dims[1], d->vocab_size);
        return -1;
    }
    d->in_index = (size_t)in;
    d->out_index = (size_t)out;
    return 0;
}

/* The metadata, the vocab (checked against it) and the matcher; ctx NULL: no model. */
static int open_dir(DeepLog *d, const OrtCtx *ctx, const char *dir, const SessionConfig *cfg, Err *err)
{
    memset(d, 0, sizeof *d);
    if (!is_dir(dir)) {
        err_set(err, EXIT_INPUT, "model directory %s does not exist or is not a directory", dir);
        return -1;
    }
    char *onnx = path_join(dir, "deeplog.onnx");
    char *meta = path_join(dir, "deeplog.onnx.meta.json");
    char *vocab = path_join(dir, "vocab.json");
    int rc = -1;
    if (!onnx || !meta || !vocab) {
        err_set(err, EXIT_RUNTIME, "out of memory");
        goto done;
    }
    if (meta_load(meta, &d->meta, err) != 0 || meta_require_deeplog(&d->meta, meta, err) != 0 ||
        vocab_load(vocab, &d->vocab, err) != 0)
        goto done;
    d->seq_len = d->meta.seq_len;
    d->vocab_size = d->meta.vocab_size;
    if ((long)d->vocab.n != d->vocab_size) {
        err_set(err, EXIT_INPUT, "%s has %zu templates but the metadata says vocab_size %ld", vocab, d->vocab.n,
                d->vocab_size);
        goto done;
    }
    if (matcher_build(&d->matcher, &d->vocab, err) != 0 || (ctx && model_open(&d->model, ctx, onnx, cfg, err) != 0))
        goto done;
    rc = ctx ? check_model(d, onnx, err) : 0;
done:
    free(onnx);
    free(meta);
    free(vocab);
    if (rc != 0)
        deeplog_close(d);
    return rc;
}

int deeplog_open(DeepLog *d, const OrtCtx *ctx, const char *dir, const SessionConfig *cfg, Err *err)
{
    return open_dir(d, ctx, dir, cfg, err);
}

int deeplog_open_templates(DeepLog *d, const char *dir, Err *err)
{
    return open_dir(d, NULL, dir, NULL, err);
}


long deeplog_rank(const float *row, long n, long k)
{
    float a = row[k];
    long r = 0;
    for (long j = 0; j < n; j++)
        r += (row[j] > a) | ((row[j] == a) & (j < k));
    return r;
}

int deeplog_run(DeepLog *d, int64_t *windows, size_t n, OrtValue **value, const float **logits, double *run_seconds,
                Err *err)
{
    const OrtApi *api = d->model.ctx->api;
    int64_t shape[2] = {(int64_t)n, d->seq_len};
    size_t bytes = n * (size_t)d->seq_len * sizeof(int64_t);
    OrtValue *out = NULL;
    if (model_run1(&d->model, d->in_index, ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64, windows, bytes, shape, 2,
                   d->out_index, &out, run_seconds, err) != 0)
        return -1;
    OrtTensorTypeAndShapeInfo *info = NULL;
    enum ONNXTensorElementDataType et = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
    size_t rank = 0;
    int64_t dims[2] = {0, 0};
    void *data = NULL;
    if (ort_check(api, api->GetTensorTypeAndShape(out, &info), EXIT_RUNTIME, "cannot read the output", err) ||
        ort_check(api, api->GetTensorElementType(info, &et), EXIT_RUNTIME, "cannot read the output", err) ||
        ort_check(api, api->GetDimensionsCount(info, &rank), EXIT_RUNTIME, "cannot read the output", err))
        goto fail;
    if (et != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT || rank != 2 ||
        ort_check(api, api->GetDimensions(info, dims, 2), EXIT_RUNTIME, "cannot read the output", err) ||
        dims[0] != (int64_t)n || dims[1] != d->vocab_size) {
        err_set(err, EXIT_INPUT, "the model returned %s of rank %zu [%lld, %lld] for %zu windows; expected float32 [%zu, %ld]",
                elem_type_name((int)et), rank, (long long)dims[0], (long long)dims[1], n, n, d->vocab_size);
        goto fail;
    }
    if (ort_check(api, api->GetTensorMutableData(out, &data), EXIT_RUNTIME, "cannot read the output", err))
        goto fail;
    api->ReleaseTensorTypeAndShapeInfo(info);
    *value = out;
    *logits = data;
    return 0;
fail:
    if (info)
        api->ReleaseTensorTypeAndShapeInfo(info);
    api->ReleaseValue(out);
    return -1;
}
