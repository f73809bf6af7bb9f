#include "parity.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* One input through an open model: load the NPY, run, write the first output as NPY. */
static int parity_one(const Model *m, const char *in_npy, const char *out_npy, Err *err)
{
    const OrtApi *api = m->ctx->api;
    NpyInfo info;
    void *data = NULL;
    OrtValue *out = NULL;
    OrtTensorTypeAndShapeInfo *ti = NULL;
    int rc = -1;
    if (npy_load_for(in_npy, &m->in[0], &info, &data, err) != 0)
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
    for (size_t k = 0; k < n; k++) /* one session for every pair: the model is loaded once */
        if (parity_one(&m, in_npy[k], out_npy[k], err) != 0)
            goto done;
    rc = 0;
done:
    model_close(&m);
    return rc;
}
