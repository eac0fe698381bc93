#include "CAllocationCounter.h"

#include <errno.h>  // any libc header defines __GLIBC__ on glibc
#include <stdatomic.h>
#include <stddef.h>

#if defined(__linux__) && defined(__GLIBC__)

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);

static _Thread_local int counting;
static _Atomic long total;

int sieve_allocation_counter_available(void) { return 1; }
void sieve_allocation_counter_enable(int on) { counting = on; }
long sieve_allocation_counter_total(void) { return atomic_load_explicit(&total, memory_order_acquire); }

static inline void note(void) {
    if (counting) atomic_fetch_add_explicit(&total, 1, memory_order_relaxed);
}

void *malloc(size_t size) { note(); return __libc_malloc(size); }
void *calloc(size_t count, size_t size) { note(); return __libc_calloc(count, size); }
void *realloc(void *pointer, size_t size) { note(); return __libc_realloc(pointer, size); }
void *memalign(size_t alignment, size_t size) { note(); return __libc_memalign(alignment, size); }
void *aligned_alloc(size_t alignment, size_t size) { note(); return __libc_memalign(alignment, size); }

int posix_memalign(void **out, size_t alignment, size_t size) {
    note();
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) return EINVAL;
    void *p = __libc_memalign(alignment, size);
    if (p == NULL) return ENOMEM;
    *out = p;
    return 0;
}
#else
int sieve_allocation_counter_available(void) { return 0; }
void sieve_allocation_counter_enable(int on) { (void)on; }
long sieve_allocation_counter_total(void) { return 0; }
#endif
