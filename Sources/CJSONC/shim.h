#ifndef SIEVE_CJSONC_SHIM_H
#define SIEVE_CJSONC_SHIM_H
#include <json-c/json.h>
#endif
