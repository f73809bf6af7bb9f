/* Info mode: describe a model directory or a single .onnx file. */
#ifndef CENGINE_INFO_H
#define CENGINE_INFO_H

#include <stdio.h>

#include "model.h"
#include "ort_loader.h"

int info_run(const OrtLib *lib, const OrtCtx *ctx, const char *path, const SessionConfig *cfg, FILE *out, Err *err);

#endif
