#ifndef SIEVE_CZSTD_SHIM_H
#define SIEVE_CZSTD_SHIM_H
#include <zstd.h>
#endif
