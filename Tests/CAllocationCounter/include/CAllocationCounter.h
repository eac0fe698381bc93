#ifndef SIEVE_CALLOCATIONCOUNTER_H
#define SIEVE_CALLOCATIONCOUNTER_H
// Counts heap allocations for the tests: this target defines malloc, calloc, realloc, memalign, aligned_alloc
// and posix_memalign, which replace glibc's for the whole test process (the executable's definitions interpose
// on the shared libraries'), count the call when the calling thread has counting on, and forward to glibc's
// __libc_* entry points. Linux (glibc) only; elsewhere the counter reports that it is unavailable.

/// 1 when allocations are counted on this platform, 0 otherwise.
int sieve_allocation_counter_available(void);

/// Turns counting on (1) or off (0) for the calling thread.
void sieve_allocation_counter_enable(int on);

/// Allocations counted so far, over every thread that had counting on.
long sieve_allocation_counter_total(void);
#endif
