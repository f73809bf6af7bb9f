/* Resolve ONNX Runtime at run time (dlopen + dlsym("OrtGetApiBase")), so one binary built
 * against the API 21 header runs with any library that still serves that API (>= 1.21). */
#ifndef CENGINE_ORT_LOADER_H
#define CENGINE_ORT_LOADER_H

#include "common.h"
#include "onnxruntime_c_api.h"

typedef struct {
    void *handle;
    const OrtApi *api;
    const char *version; /* the library's GetVersionString() */
    char path[4096];
} OrtLib;

/* Library path: explicit (--ort-lib) if given, else env ORT_LIB, else the active python3's
 * onnxruntime package (onnxruntime/capi/libonnxruntime.so.<version>). */
int ort_load(OrtLib *lib, const char *explicit_path, Err *err);

/* The handle stays loaded until exit: unloading would leave the sanitizers unable to name
 * the library's own allocations. */

#endif
