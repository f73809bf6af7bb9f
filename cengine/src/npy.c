#include "npy.h"

#include <string.h>

static const unsigned char MAGIC[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

static const struct {
    const char *descr;
    int type;
    size_t size;
    const char *name;
} TYPES[] = {
    {"<f4", NPY_T_FLOAT, 4, "float32"}, {"<f8", NPY_T_DOUBLE, 8, "float64"},
    {"<i8", NPY_T_INT64, 8, "int64"},   {"<i4", NPY_T_INT32, 4, "int32"},
    {"|i1", NPY_T_INT8, 1, "int8"},     {"|u1", NPY_T_UINT8, 1, "uint8"},
    {"|b1", NPY_T_BOOL, 1, "bool"},
};
#define NTYPES (sizeof TYPES / sizeof TYPES[0])

const char *npy_type_name(int type)
{
    for (size_t i = 0; i < NTYPES; i++)
        if (TYPES[i].type == type)
            return TYPES[i].name;
    return "unknown";
}

size_t npy_type_size(int type)
{
    for (size_t i = 0; i < NTYPES; i++)
        if (TYPES[i].type == type)
            return TYPES[i].size;
    return 0;
}

/* A tiny cursor over the header's Python dict literal. */
typedef struct {
    const char *s;
    size_t n, i;
} Cur;

static void skip_ws(Cur *c)
{
    while (c->i < c->n && (c->s[c->i] == ' ' || c->s[c->i] == '\t' || c->s[c->i] == '\n' || c->s[c->i] == '\r'))
        c->i++;
}

static int eat(Cur *c, char ch)
{
    skip_ws(c);
    if (c->i < c->n && c->s[c->i] == ch) {
        c->i++;
        return 1;
    }
    return 0;
}

/* A quoted string without escapes (all that NPY headers use); copies into out. */
static int quoted(Cur *c, char *out, size_t cap)
{
    skip_ws(c);
    if (c->i >= c->n || (c->s[c->i] != '\'' && c->s[c->i] != '"'))
        return -1;
    char q = c->s[c->i++];
    size_t k = 0;
    while (c->i < c->n && c->s[c->i] != q) {
        if (c->s[c->i] == '\\' || k + 1 >= cap)
            return -1;
        out[k++] = c->s[c->i++];
    }
    if (c->i >= c->n)
        return -1;
    c->i++;
    out[k] = '\0';
    return 0;
}

static int word(Cur *c, const char *w)
{
    size_t n = strlen(w);
    skip_ws(c);
    if (c->n - c->i >= n && memcmp(c->s + c->i, w, n) == 0) {
        c->i += n;
        return 1;
    }
    return 0;
}

static int dim(Cur *c, int64_t *out)
{
    skip_ws(c);
    int64_t v = 0;
    size_t start = c->i;
    while (c->i < c->n && c->s[c->i] >= '0' && c->s[c->i] <= '9') {
        int d = c->s[c->i] - '0';
        if (v > (INT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
        c->i++;
    }
    if (c->i == start)
        return -1;
    *out = v;
    return 0;
}

int npy_parse_header(const unsigned char *buf, size_t len, NpyInfo *info, Err *err)
{
    memset(info, 0, sizeof *info);
    if (len < 10 || memcmp(buf, MAGIC, sizeof MAGIC) != 0) {
        err_set(err, EXIT_INPUT, "not an NPY file (bad magic)");
        return -1;
    }
    unsigned major = buf[6], minor = buf[7];
    size_t hlen, pre;
    if (major == 1 && minor == 0) {
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
        pre = 10;
    } else if ((major == 2 || major == 3) && minor == 0) {
        if (len < 12) {
            err_set(err, EXIT_INPUT, "truncated NPY header");
            return -1;
        }
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
        pre = 12;
    } else {
        err_set(err, EXIT_INPUT, "unsupported NPY version %u.%u", major, minor);
        return -1;
    }
    if (hlen > NPY_MAX_HEADER) {
        err_set(err, EXIT_INPUT, "NPY header too large (%zu bytes)", hlen);
        return -1;
    }
    if (len - pre < hlen) {
        err_set(err, EXIT_INPUT, "truncated NPY header");
        return -1;
    }
    Cur c = {(const char *)buf + pre, hlen, 0};
    int have_descr = 0, have_fortran = 0, have_shape = 0;
    char key[32], descr[16];
    if (!eat(&c, '{'))
        goto bad;
    while (!eat(&c, '}')) {
        if (quoted(&c, key, sizeof key) != 0 || !eat(&c, ':'))
            goto bad;
        if (strcmp(key, "descr") == 0 && !have_descr) {
            have_descr = 1;
            if (quoted(&c, descr, sizeof descr) != 0)
                goto bad;
            for (size_t t = 0; t < NTYPES; t++)
                if (strcmp(descr, TYPES[t].descr) == 0) {
                    info->type = TYPES[t].type;
                    info->itemsize = TYPES[t].size;
                }
            if (!info->type) {
                err_set(err, EXIT_INPUT, "unsupported NPY dtype '%s' (little-endian float32/float64/int64/int32/int8/uint8/bool only)", descr);
                return -1;
            }
        } else if (strcmp(key, "fortran_order") == 0 && !have_fortran) {
            have_fortran = 1;
            if (word(&c, "True")) {
                err_set(err, EXIT_INPUT, "Fortran-ordered NPY arrays are not supported (save with C order)");
                return -1;
            }
            if (!word(&c, "False"))
                goto bad;
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            have_shape = 1;
            if (!eat(&c, '('))
                goto bad;
            while (!eat(&c, ')')) {
                if (info->rank >= NPY_MAX_RANK) {
                    err_set(err, EXIT_INPUT, "NPY rank above %d", NPY_MAX_RANK);
                    return -1;
                }
                if (dim(&c, &info->dims[info->rank]) != 0)
                    goto bad;
                info->rank++;
                if (!eat(&c, ',')) {
                    if (!eat(&c, ')'))
                        goto bad;
                    /* "(5)" is an int, not a tuple: numpy always writes "(5,)". */
                    if (info->rank == 1)
                        goto bad;
                    break;
                }
            }
        } else {
            goto bad;
        }
        if (!eat(&c, ',')) {
            if (!eat(&c, '}'))
                goto bad;
            break;
        }
    }
    skip_ws(&c);
    if (c.i != c.n || !have_descr || !have_fortran || !have_shape)
        goto bad;
    size_t count = 1;
    for (size_t d = 0; d < info->rank; d++) {
        if ((uint64_t)info->dims[d] > SIZE_MAX || size_mul(count, (size_t)info->dims[d], &count) != 0) {
            err_set(err, EXIT_INPUT, "NPY shape is too large");
            return -1;
        }
    }
    if (size_mul(count, info->itemsize, &info->data_bytes) != 0) {
        err_set(err, EXIT_INPUT, "NPY shape is too large");
        return -1;
    }
    info->count = count;
    info->data_offset = pre + hlen;
    return 0;
bad:
    err_set(err, EXIT_INPUT, "malformed NPY header");
    return -1;
}

int npy_write(FILE *f, int type, const int64_t *dims, size_t rank, const void *data, size_t data_bytes)
{
    const char *descr = NULL;
    for (size_t t = 0; t < NTYPES; t++)
        if (TYPES[t].type == type)
            descr = TYPES[t].descr;
    if (!descr || rank > NPY_MAX_RANK)
        return -1;
    char h[1024];
    int k = snprintf(h, sizeof h, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (size_t d = 0; d < rank; d++)
        k += snprintf(h + k, sizeof h - (size_t)k, d ? ", %lld" : "%lld", (long long)dims[d]);
    k += snprintf(h + k, sizeof h - (size_t)k, rank == 1 ? ",), }" : "), }");
    /* Pad with spaces so that data starts on a 64-byte boundary; end with a newline. */
    size_t total = 10 + (size_t)k + 1;
    size_t pad = (64 - total % 64) % 64;
    memset(h + k, ' ', pad);
    h[(size_t)k + pad] = '\n';
    size_t hlen = (size_t)k + pad + 1;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8)};
    if (fwrite(pre, 1, sizeof pre, f) != sizeof pre || fwrite(h, 1, hlen, f) != hlen)
        return -1;
    if (data_bytes && fwrite(data, 1, data_bytes, f) != data_bytes)
        return -1;
    return 0;
}
