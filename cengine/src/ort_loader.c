#include "ort_loader.h"

#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

typedef const OrtApiBase *(*GetApiBaseFn)(void);

/* Ask the active python3 where its onnxruntime package lives; empty on failure. */
static int python_ort_dir(char *out, size_t cap)
{
    FILE *p = popen("python3 -c 'import onnxruntime,os;print(os.path.dirname(onnxruntime.__file__))' 2>/dev/null", "r");
    if (!p)
        return -1;
    size_t n = fread(out, 1, cap - 1, p);
    int status = pclose(p);
    out[n] = '\0';
    while (n && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        out[--n] = '\0';
    return (status == 0 && n > 0) ? 0 : -1;
}

/* In <pkg>/capi pick libonnxruntime.so.<version> (the real file, not the providers). */
static int find_lib_in(const char *pkg_dir, char *out, size_t cap)
{
    char capi[4096];
    if ((size_t)snprintf(capi, sizeof capi, "%s/capi", pkg_dir) >= sizeof capi)
        return -1;
    DIR *d = opendir(capi);
    if (!d)
        return -1;
    const char *prefix = "libonnxruntime.so.";
    size_t plen = strlen(prefix);
    char best[256] = "";
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, plen) == 0 && e->d_name[plen] >= '0' && e->d_name[plen] <= '9' &&
            strlen(e->d_name) > strlen(best) && strlen(e->d_name) < sizeof best)
            snprintf(best, sizeof best, "%s", e->d_name);
    }
    closedir(d);
    if (!best[0])
        return -1;
    return (size_t)snprintf(out, cap, "%s/%s", capi, best) < cap ? 0 : -1;
}

int ort_load(OrtLib *lib, const char *explicit_path, Err *err)
{
    memset(lib, 0, sizeof *lib);
    const char *src = explicit_path;
    const char *how = "--ort-lib";
    if (!src || !*src) {
        src = getenv("ORT_LIB");
        how = "ORT_LIB";
    }
    if (src && *src) {
        if (strlen(src) >= sizeof lib->path) {
            err_set(err, EXIT_RUNTIME, "%s path too long", how);
            return -1;
        }
        snprintf(lib->path, sizeof lib->path, "%s", src);
    } else {
        char dir[4096];
        if (python_ort_dir(dir, sizeof dir) != 0 || find_lib_in(dir, lib->path, sizeof lib->path) != 0) {
            err_set(err, EXIT_RUNTIME,
                    "cannot find the ONNX Runtime library: pass --ort-lib PATH or set ORT_LIB "
                    "(python3 with the onnxruntime package was not found)");
            return -1;
        }
        how = "python3 onnxruntime package";
    }
    lib->handle = dlopen(lib->path, RTLD_NOW | RTLD_LOCAL);
    if (!lib->handle) {
        const char *why = dlerror();
        err_set(err, EXIT_RUNTIME, "cannot load ONNX Runtime library %s (from %s): %s", lib->path, how,
                why ? why : "unknown error");
        return -1;
    }
    GetApiBaseFn get_base;
    void *sym = dlsym(lib->handle, "OrtGetApiBase");
    memcpy(&get_base, &sym, sizeof get_base); /* object -> function pointer, without a cast warning */
    if (!sym) {
        err_set(err, EXIT_RUNTIME, "%s is not an ONNX Runtime library (no OrtGetApiBase)", lib->path);
        return -1;
    }
    const OrtApiBase *base = get_base();
    lib->version = base && base->GetVersionString ? base->GetVersionString() : "unknown";
    lib->api = base ? base->GetApi(ORT_API_VERSION) : NULL;
    if (!lib->api) {
        err_set(err, EXIT_RUNTIME,
                "ONNX Runtime %s at %s does not provide C API version %d (this engine's header); "
                "ONNX Runtime >= 1.%d is required",
                lib->version, lib->path, ORT_API_VERSION, ORT_API_VERSION);
        return -1;
    }
    return 0;
}
