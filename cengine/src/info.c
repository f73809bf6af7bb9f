#include "info.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "meta.h"
#include "vocab.h"

static void print_io(FILE *out, const char *kind, const IoSpec *s)
{
    fprintf(out, "  %-14s %s: ", kind, s->name);
    if (!s->is_tensor) {
        fprintf(out, "(not a tensor)\n");
        return;
    }
    fprintf(out, "%s [", elem_type_name(s->elem));
    for (size_t d = 0; d < s->rank; d++) {
        if (d)
            fprintf(out, ", ");
        if (s->dims[d] > 0)
            fprintf(out, "%lld", (long long)s->dims[d]);
        else
            fprintf(out, "%s", s->sym[d][0] ? s->sym[d] : "?");
    }
    fprintf(out, "]\n");
}

static void print_meta(FILE *out, const Meta *m)
{
    fprintf(out, "  %-14s format_version=%ld model_type=%s input_name=%s output_name=%s", "meta", m->format_version,
            m->model_type, m->input_name, m->output_name);
    if (m->vocab_size >= 0)
        fprintf(out, " vocab_size=%ld", m->vocab_size);
    if (m->seq_len >= 0)
        fprintf(out, " seq_len=%ld top_g=%ld", m->seq_len, m->top_g);
    if (m->log_format)
        fprintf(out, " log_format=%s", m->log_format);
    if (m->header_fields >= 0)
        fprintf(out, " header_fields=%ld", m->header_fields);
    if (m->sensors >= 0)
        fprintf(out, " sensors=%ld", m->sensors);
    if (m->scales >= 0)
        fprintf(out, " scales=%ld", m->scales);
    if (m->step >= 0)
        fprintf(out, " step=%ld", m->step);
    fprintf(out, "\n");
    const struct {
        const char *label;
        const char *json;
    } recs[] = {{"dynamic_axes", m->dynamic_axes}, {"model_config", m->model_config},
                {"versions", m->versions},         {"export", m->export_rec}};
    for (size_t i = 0; i < sizeof recs / sizeof recs[0]; i++)
        if (recs[i].json)
            fprintf(out, "  %-14s %s\n", recs[i].label, recs[i].json);
}

/* Describe one .onnx file and the metadata file beside it (if any). */
static int describe_model(const OrtLib *lib, const OrtCtx *ctx, const char *onnx, const SessionConfig *cfg, FILE *out,
                          Err *err)
{
    Model m;
    Meta meta;
    int have_meta = 0;
    char *meta_path = malloc(strlen(onnx) + sizeof ".meta.json");
    if (!meta_path) {
        err_set(err, EXIT_RUNTIME, "out of memory");
        return -1;
    }
    strcpy(meta_path, onnx);
    strcat(meta_path, ".meta.json");
    if (access(meta_path, F_OK) == 0) {
        if (meta_load(meta_path, &meta, err) != 0) {
            free(meta_path);
            return -1;
        }
        have_meta = 1;
    }
    if (model_open(&m, ctx, onnx, cfg, err) != 0) {
        if (have_meta)
            meta_free(&meta);
        free(meta_path);
        return -1;
    }
    fprintf(out, "model %s\n", onnx);
    fprintf(out, "  %-14s %s (%s; engine header C API %d)\n", "onnxruntime", lib->version, lib->path, ORT_API_VERSION);
    fprintf(out, "  %-14s %s\n", "producer", m.producer);
    fprintf(out, "  %-14s %s\n", "graph", m.graph);
    if (m.domain[0])
        fprintf(out, "  %-14s %s\n", "domain", m.domain);
    if (m.description[0])
        fprintf(out, "  %-14s %s\n", "description", m.description);
    if (m.version != INT64_MAX) /* ONNX Runtime's value when the model sets none */
        fprintf(out, "  %-14s %lld\n", "model_version", (long long)m.version);
    if (have_meta && meta.opset > 0)
        fprintf(out, "  %-14s %ld (from %s)\n", "opset", meta.opset, meta_path);
    else
        fprintf(out, "  %-14s unknown (the ONNX Runtime C API does not expose it and no metadata says)\n", "opset");
    for (size_t i = 0; i < m.n_in; i++)
        print_io(out, "input", &m.in[i]);
    for (size_t i = 0; i < m.n_out; i++)
        print_io(out, "output", &m.out[i]);
    for (size_t k = 0; k < m.n_custom; k++)
        fprintf(out, "  %-14s %s=%s\n", "custom", m.custom_keys[k], m.custom_vals[k]);
    if (have_meta) {
        print_meta(out, &meta);
        meta_free(&meta);
    } else {
        fprintf(out, "  %-14s none (%s not found)\n", "meta", meta_path);
    }
    model_close(&m);
    free(meta_path);
    return 0;
}

int info_run(const OrtLib *lib, const OrtCtx *ctx, const char *path, const SessionConfig *cfg, FILE *out, Err *err)
{
    if (!is_dir(path))
        return describe_model(lib, ctx, path, cfg, out, err);
    static const char *const MODELS[] = {"deeplog.onnx", "mscred.onnx"};
    int found = 0, rc = 0;
    for (size_t i = 0; i < 2 && rc == 0; i++) {
        char *p = path_join(path, MODELS[i]);
        if (!p) {
            err_set(err, EXIT_RUNTIME, "out of memory");
            return -1;
        }
        if (access(p, F_OK) == 0) {
            found++;
            rc = describe_model(lib, ctx, p, cfg, out, err);
        }
        free(p);
    }
    if (rc != 0)
        return rc;
    if (!found) {
        err_set(err, EXIT_INPUT, "%s holds neither deeplog.onnx nor mscred.onnx", path);
        return -1;
    }
    char *vp = path_join(path, "vocab.json");
    if (!vp) {
        err_set(err, EXIT_RUNTIME, "out of memory");
        return -1;
    }
    if (access(vp, F_OK) == 0) {
        Vocab v;
        if (vocab_load(vp, &v, err) != 0) {
            free(vp);
            return -1;
        }
        fprintf(out, "vocab %s\n  %-14s %zu\n", vp, "templates", v.n);
        vocab_free(&v);
    }
    free(vp);
    return 0;
}
