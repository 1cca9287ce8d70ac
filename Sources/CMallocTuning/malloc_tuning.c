#include "CMallocTuning.h"

// Any libc header brings in features.h, which is what defines __GLIBC__.
#include <stdlib.h>

#if defined(__GLIBC__)
#include <malloc.h>

int sso_admin_exporter_tune_malloc(int threshold_bytes, int max_arenas) {
    int ok = mallopt(M_MMAP_THRESHOLD, threshold_bytes);
    ok &= mallopt(M_ARENA_MAX, max_arenas);
    return ok;
}
#else
int sso_admin_exporter_tune_malloc(int threshold_bytes, int max_arenas) {
    (void)threshold_bytes;
    (void)max_arenas;
    return 0;
}
#endif
