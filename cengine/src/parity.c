#include "parity.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "meta.h"
#include "npy.h"
#include "outfile.h"

int npy_load_for(const char *path, const IoSpec *input, NpyInfo *info, void **data, Err *err)
{
    *data = NULL;
    FILE *f = fopen(path, "rb");
    struct stat st;
    unsigned char *head = NULL;
    int rc = -1;
    if (!f) {
        err_set(err, EXIT_INPUT, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        err_set(err, EXIT_INPUT, "%s is not a regular file", path);
        goto done;
    }
    size_t fsize = (size_t)st.st_size;
    size_t want = fsize < 12 + NPY_MAX_HEADER ? fsize : 12 + NPY_MAX_HEADER;
    head = malloc(want ? want : 1);
    if (!head) {
        err_set(err, EXIT_RUNTIME, "out of memory");
        goto done;
    }
    if (fread(head, 1, want, f) != want) {
        err_set(err, EXIT_INPUT, "cannot read %s", path);
        goto done;
    }
    if (npy_parse_header(head, want, info, err) != 0) {
        char why[sizeof err->msg];
        snprintf(why, sizeof why, "%s", err->msg);
        err_set(err, EXIT_INPUT, "%s: %s", path, why);
        goto done;
    }
    if (info->type != input->elem) {
        err_set(err, EXIT_INPUT, "%s holds %s but model input \"%s\" takes %s", path, npy_type_name(info->type),
                input->name, elem_type_name(input->elem));
        goto done;
    }
    if (info->rank != input->rank) {
        err_set(err, EXIT_INPUT, "%s has rank %zu but model input \"%s\" has rank %zu", path, info->rank,
                input->name, input->rank);
        goto done;
    }
    for (size_t d = 0; d < info->rank; d++)
        if (input->dims[d] > 0 && input->dims[d] != info->dims[d]) {
            err_set(err, EXIT_INPUT, "%s has %lld at axis %zu but model input \"%s\" is fixed to %lld there", path,
                    (long long)info->dims[d], d, input->name, (long long)input->dims[d]);
            goto done;
        }
    /* Sizes are checked against the file before anything is allocated for the data. */
    if (info->data_offset > fsize || fsize - info->data_offset != info->data_bytes) {
        err_set(err, EXIT_INPUT, "%s: header promises %zu data bytes but the file has %lld", path, info->data_bytes,
                (long long)fsize - (long long)info->data_offset);
        goto done;
    }
    *data = malloc(info->data_bytes ? info->data_bytes : 1);
    if (!*data) {
        err_set(err, EXIT_RUNTIME, "out of memory (%zu bytes)", info->data_bytes);
        goto done;
    }
    if (fseek(f, (long)info->data_offset, SEEK_SET) != 0 ||
        fread(*data, 1, info->data_bytes, f) != info->data_bytes) {
        err_set(err, EXIT_INPUT, "cannot read the data of %s", path);
        goto done;
    }
    rc = 0;
done:
    if (rc != 0) {
        free(*data);
        *data = NULL;
    }
    free(head);
    fclose(f);
    return rc;
}

typedef struct {
    int type;
    const int64_t *dims;
    size_t rank;
    const void *data;
    size_t bytes;
} NpyOut;

static int emit_npy(FILE *f, void *ctx)
{
    const NpyOut *o = ctx;
    return npy_write(f, o->type, o->dims, o->rank, o->data, o->bytes);
}

/* The vocab_size of a DeepLog model from the metadata file beside it, or -1 when there is none that
 * loads (parity mode does not need one). */
static long vocab_beside(const char *model_path)
{
    size_t n = strlen(model_path);
    char *path = malloc(n + sizeof ".meta.json");
    long vocab = -1;
    Meta meta;
    Err ignored;
    if (!path)
        return -1;
    memcpy(path, model_path, n);
    memcpy(path + n, ".meta.json", sizeof ".meta.json");
    if (access(path, F_OK) == 0 && meta_load(path, &meta, &ignored) == 0) {
        if (strcmp(meta.model_type, "deeplog") == 0)
            vocab = meta.vocab_size;
        meta_free(&meta);
    }
    free(path);
    return vocab;
}

/* Refuse what ONNX Runtime cannot be trusted with: an empty tensor (its kernels abort the process on
 * an empty batch: "terminate called without an active exception"), and token ids outside a DeepLog
 * vocabulary (Gather fails on a large one and wraps a negative one, where PyTorch refuses both). */
static int check_values(const char *in_npy, const NpyInfo *info, const void *data, long vocab, Err *err)
{
    if (info->count == 0) {
        char shape[256];
        int k = 0;
        for (size_t d = 0; d < info->rank && k < (int)sizeof shape - 24; d++)
            k += snprintf(shape + k, sizeof shape - (size_t)k, d ? ", %lld" : "%lld", (long long)info->dims[d]);
        err_set(err, EXIT_INPUT, "%s holds no values (shape [%s]): an empty batch or sequence cannot be run", in_npy,
                shape);
        return -1;
    }
    if (vocab > 0 && info->type == NPY_T_INT64)
        for (size_t i = 0; i < info->count; i++) {
            int64_t id;
            memcpy(&id, (const char *)data + i * sizeof id, sizeof id);
            if (id < 0 || id >= vocab) {
                err_set(err, EXIT_INPUT, "%s holds token id %lld at position %zu, outside the vocabulary (0..%ld)",
                        in_npy, (long long)id, i, vocab - 1);
                return -1;
            }
        }
    return 0;
}

/* One input through an open model: load the NPY, run, write the first output as NPY. */
static int parity_one(const Model *m, const char *in_npy, const char *out_npy, long vocab, Err *err)
{
    const OrtApi *api = m->ctx->api;
    NpyInfo info;
    void *data = NULL;
    OrtValue *out = NULL;
    OrtTensorTypeAndShapeInfo *ti = NULL;
    int rc = -1;
    if (npy_load_for(in_npy, &m->in[0], &info, &data, err) != 0 || check_values(in_npy, &info, data, vocab, err) != 0)
        goto done;
    if (model_run1(m, 0, m->in[0].elem, data, info.data_bytes, info.dims, info.rank, 0, &out, NULL, err) != 0)
        goto done;
    enum ONNXTensorElementDataType et;
    size_t rank, count;
    int64_t dims[NPY_MAX_RANK];
    void *odata = NULL;
    if (ort_check(api, api->GetTensorTypeAndShape(out, &ti), EXIT_RUNTIME, "cannot read the output", err) ||
        ort_check(api, api->GetTensorElementType(ti, &et), EXIT_RUNTIME, "cannot read the output", err) ||
        ort_check(api, api->GetDimensionsCount(ti, &rank), EXIT_RUNTIME, "cannot read the output", err))
        goto done;
    if (npy_type_size((int)et) == 0 || rank > NPY_MAX_RANK) {
        err_set(err, EXIT_INPUT, "output \"%s\" is %s of rank %zu, which cannot be written as NPY", m->out[0].name,
                elem_type_name((int)et), rank);
        goto done;
    }
    if (ort_check(api, api->GetDimensions(ti, dims, rank), EXIT_RUNTIME, "cannot read the output", err) ||
        ort_check(api, api->GetTensorShapeElementCount(ti, &count), EXIT_RUNTIME, "cannot read the output", err) ||
        ort_check(api, api->GetTensorMutableData(out, &odata), EXIT_RUNTIME, "cannot read the output", err))
        goto done;
    NpyOut npy = {(int)et, dims, rank, odata, count * npy_type_size((int)et)};
    if (write_output(out_npy, emit_npy, &npy, err) != 0)
        goto done;
    rc = 0;
done:
    if (ti)
        api->ReleaseTensorTypeAndShapeInfo(ti);
    if (out)
        api->ReleaseValue(out);
    free(data);
    return rc;
}

int parity_run(const OrtCtx *ctx, const char *model_path, const char *const *in_npy, const char *const *out_npy,
               size_t n, const SessionConfig *cfg, Err *err)
{
    Model m;
    int rc = -1;
    if (model_open(&m, ctx, model_path, cfg, err) != 0)
        return -1;
    if (m.n_in != 1 || m.n_out < 1) {
        err_set(err, EXIT_INPUT, "%s has %zu inputs and %zu outputs; parity mode feeds one input", model_path, m.n_in,
                m.n_out);
        goto done;
    }
    if (!m.in[0].is_tensor || npy_type_size(m.in[0].elem) == 0) {
        err_set(err, EXIT_INPUT, "%s input \"%s\" has type %s, which NPY parity mode does not feed", model_path,
                m.in[0].name, m.in[0].is_tensor ? elem_type_name(m.in[0].elem) : "non-tensor");
        goto done;
    }
    long vocab = vocab_beside(model_path);
    for (size_t k = 0; k < n; k++) /* one session for every pair: the model is loaded once */
        if (parity_one(&m, in_npy[k], out_npy[k], vocab, err) != 0)
            goto done;
    rc = 0;
done:
    model_close(&m);
    return rc;
}
