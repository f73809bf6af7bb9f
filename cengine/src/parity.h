/* Parity mode: run any single-input artifact on an NPY tensor, write its first output as NPY. */
#ifndef CENGINE_PARITY_H
#define CENGINE_PARITY_H

#include "model.h"
#include "npy.h"

int parity_run(const OrtCtx *ctx, const char *model_path, const char *in_npy, const char *out_npy,
               const SessionConfig *cfg, Err *err);

/* Read and validate an NPY file against a model input (type, rank, fixed dims, exact size).
 * On success *data (caller frees) holds info->data_bytes bytes. */
int npy_load_for(const char *path, const IoSpec *input, NpyInfo *info, void **data, Err *err);

#endif
