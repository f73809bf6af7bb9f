/* Parity mode: run any single-input artifact on NPY tensors, write each first output as NPY. */
#ifndef CENGINE_PARITY_H
#define CENGINE_PARITY_H

#include "model.h"
#include "npy.h"

/* Each of the n inputs in turn through one session of model_path, its output to the matching path. */
int parity_run(const OrtCtx *ctx, const char *model_path, const char *const *in_npy, const char *const *out_npy,
               size_t n, const SessionConfig *cfg, Err *err);

/* Read and validate an NPY file against a model input (type, rank, fixed dims, exact size).
 * On success *data (caller frees) holds info->data_bytes bytes. */
int npy_load_for(const char *path, const IoSpec *input, NpyInfo *info, void **data, Err *err);

#endif
