#ifndef C_MALLOC_TUNING_H
#define C_MALLOC_TUNING_H

/// Fixes glibc's mmap threshold at `threshold_bytes`, so that large buffers (a scrape's exposition) go to mmap and
/// return to the system when freed. Without it glibc raises the threshold after the first such free and keeps every
/// later buffer in its heaps. Limits the number of malloc arenas to `max_arenas`. Returns 0 where glibc is absent.
int sso_admin_exporter_tune_malloc(int threshold_bytes, int max_arenas);

#endif
