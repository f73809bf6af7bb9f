/* NPY format (numpy .npy): strict header parser and a v1.0 writer. */
#ifndef CENGINE_NPY_H
#define CENGINE_NPY_H

#include <stdio.h>

#include "common.h"

#define NPY_MAX_RANK 32
#define NPY_MAX_HEADER 65536

/* Element types, numbered like ONNX TensorProto.DataType so they map 1:1 to ONNX Runtime's. */
enum {
    NPY_T_FLOAT = 1,
    NPY_T_UINT8 = 2,
    NPY_T_INT8 = 3,
    NPY_T_INT32 = 6,
    NPY_T_INT64 = 7,
    NPY_T_BOOL = 9,
    NPY_T_DOUBLE = 11
};

typedef struct {
    int type;           /* NPY_T_* */
    size_t itemsize;
    size_t rank;
    int64_t dims[NPY_MAX_RANK];
    size_t count;       /* elements */
    size_t data_bytes;  /* count * itemsize */
    size_t data_offset; /* bytes before the data: magic + version + length + header */
} NpyInfo;

/* Parse the header at the start of buf (len bytes available). Refuses anything but
 * little-endian C-order arrays of the supported types, and sizes that overflow. */
int npy_parse_header(const unsigned char *buf, size_t len, NpyInfo *info, Err *err);

/* Type name ("float32", ...) or "unknown". */
const char *npy_type_name(int type);
/* Item size of a supported type, 0 if unsupported. */
size_t npy_type_size(int type);

/* Write a v1.0 NPY stream; returns 0 or -1 (errno set by stdio). */
int npy_write(FILE *f, int type, const int64_t *dims, size_t rank, const void *data, size_t data_bytes);

#endif
