/* rps/plugin.h: the native plugin ABI (version 1) between an rpsc plugin `.so` and its host,
 * rpsrt.plugins.PluginManager. Generated plugins and hand-written C plugins include this header.
 * Reference: docs/plugin-abi.md. Fields of rps_plugin_api are only ever appended. */
#ifndef RPS_PLUGIN_H
#define RPS_PLUGIN_H

#include <stdint.h>

#include "rps/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RPS_PLUGIN_ABI_VERSION 1

/* Levels for api->log (they map onto Python's logging levels DEBUG, INFO, WARNING, ERROR). */
#define RPS_LOG_DEBUG 0
#define RPS_LOG_INFO 1
#define RPS_LOG_WARNING 2
#define RPS_LOG_ERROR 3

/* Status codes returned by api->register_extension (0 = registered). */
#define RPS_REGISTER_OK 0
#define RPS_REGISTER_UNKNOWN_POINT 1      /* no extension point of that name is declared */
#define RPS_REGISTER_BAD_SIGNATURE 2      /* the signature differs from the point's */
#define RPS_REGISTER_BAD_ARGUMENT 3       /* NULL/invalid name or function, or a duplicate impl_name */
#define RPS_REGISTER_NOT_IN_INIT 4        /* called outside rps_plugin_init */

/* Make a symbol visible from the plugin even when it is built with -fvisibility=hidden. */
#if defined(__GNUC__)
#define RPS_EXPORT __attribute__((visibility("default")))
#else
#define RPS_EXPORT
#endif

/* What the host hands to rps_plugin_init. Valid until rps_plugin_fini returns; the plugin may keep the
 * pointer (and api->rt) for its whole lifetime. */
typedef struct rps_plugin_api {
    uint32_t abi_version;           /* RPS_PLUGIN_ABI_VERSION */
    uint32_t struct_size;           /* sizeof(rps_plugin_api): fields are only ever appended */
    void *host;                     /* opaque: pass it back on every call */
    /* Register `function` as the implementation `impl_name` of the extension point `point`.
     * `signature` (e.g. "i64(i64,i64)") must equal the point's; returns RPS_REGISTER_*. Only valid
     * during rps_plugin_init: the registrations become visible when init returns 0, and are all
     * undone when it returns non-zero or when any registration failed. */
    int32_t (*register_extension)(void *host, const char *point, const char *impl_name,
                                  void *function, int32_t priority, const char *signature);
    void (*log)(void *host, int32_t level, const char *message);
    const char *(*argument)(void *host, const char *key);   /* plugin arguments, or NULL */
    /* Appended to PLUGIN_ABI.md's table: the host's shared run-time state (interrupt flag, call depth,
     * recursion limit, trap site). One per host, the same pointer for every plugin it loads; compiled
     * code keeps it (e.g. in a static `rps_rt *`) during init. */
    rps_rt *rt;
    /* Appended: the pthread key (pthread_key_t, an unsigned int) to which the host binds the calling
     * thread's own rps_rt before each call into compiled code; its value is NULL when nothing is bound
     * (then use `rt`). Generated code reads it in every exported function (rps/runtime.h). */
    const unsigned int *rt_key;
    /* Appended after rt_key (version 2): the host heap API, used by generated code and by C plugins alike
     * (docs/plugin-abi.md). `heap_version` is RPS_HEAP_API_VERSION; `heap_op` NULL when the host runs
     * no heap. */
    uint32_t heap_version;
    uint32_t heap_reserved;
    rps_heap_op_fn heap_op;
    /* Appended after heap_op (heap API version 2): the fast entry for the hottest operations, their operands
     * in registers (rps/runtime.h, RPS_HEAP_FAST_*); 0 when it did the operation, else it did nothing and
     * the caller makes the same operation through heap_op. NULL: no fast entry (use heap_op). Read it only
     * when heap_version >= 2. */
    rps_heap_fast_fn heap_fast;
} rps_plugin_api;

/* ---- What a plugin exports ----
 *
 * A NUL-terminated JSON object, readable from the file without running any of the plugin's code. It must
 * be defined as an array (`const char rps_plugin_manifest[] = "...";`), not as a pointer:
 *   {"name": "geometry", "version": "1.2.0", "abi": 1,
 *    "requires": [{"name": "core", "version": ">=1.0"}],
 *    "exports": [{"symbol": "rpsfn_...", "name": "fib", "signature": "i64(i64)"}]}
 */
RPS_EXPORT extern const char rps_plugin_manifest[];

/* Called once, after the plugin's dependencies are initialised. Return 0 for success. */
RPS_EXPORT int32_t rps_plugin_init(const rps_plugin_api *api);

/* Optional: called once before the plugin is unloaded. */
RPS_EXPORT void rps_plugin_fini(void);

/* ---- Functions: extension implementations and compiled functions ----
 *
 * Every native function the host calls (an extension point's implementation, or a compiled function
 * `rpsfn_<oid>`) has the shape
 *     int32_t fn(T *result, T1 a1, T2 a2, ...);
 * with T, Ti among i64 -> int64_t, f64 -> double, bool -> _Bool (stdbool's bool). It returns RPS_OK (0)
 * and stores the result, or returns a trap code (RPS_TRAP_*) after setting rt->trap_function and
 * rt->trap_location (static strings) when it knows them. A `void` function keeps the pointer
 * parameter, typed `void *result`: the host passes NULL and the function must not use it. */

#ifdef __cplusplus
}
#endif

#endif /* RPS_PLUGIN_H */
