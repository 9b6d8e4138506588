/* hello.c: the template of a hand-written C plugin for rpsc (plugin ABI version 1).
 *
 * It shows the three parts every plugin has: the embedded manifest, rps_plugin_init (which registers an
 * implementation of an extension point) and an optional rps_plugin_fini; plus a function with the
 * compiled-function ABI (`int32_t fn(T *result, args...)`) that the host can call by symbol, and how a
 * function reports a trap through the shared run-time state. Build: see Makefile or
 * docs/plugin-author-guide.md. */
#include <stdbool.h>
#include <stdint.h>

#include "rps/plugin.h"

/* The manifest: read by the host from the file before any code of the plugin runs. Define it as an
 * array. "exports" lists the functions callable by symbol with their signatures. */
const char rps_plugin_manifest[] =
    "{\"name\": \"hello_c\", \"version\": \"1.0.0\", \"abi\": 1, \"requires\": [],"
    " \"exports\": [{\"symbol\": \"hello_gcd\", \"name\": \"gcd\", \"signature\": \"i64(i64,i64)\"},"
    "               {\"symbol\": \"hello_div\", \"name\": \"div\", \"signature\": \"i64(i64,i64)\"}]}";

/* The run-time state shared with the host, kept from init. */
static rps_rt *hello_rt;
static int hello_calls;

/* An implementation of the extension point `combine`, signature i64(i64,i64): a + b. */
static int32_t hello_combine_add(int64_t *result, int64_t a, int64_t b) {
    ++hello_calls;
    *result = (int64_t)((uint64_t)a + (uint64_t)b);   /* wrapping, like rpsc's `+` */
    return RPS_OK;
}

/* A function with the compiled-function ABI: gcd(a, b), i64(i64,i64). */
RPS_EXPORT int32_t hello_gcd(int64_t *result, int64_t a, int64_t b) {
    uint64_t x = a < 0 ? -(uint64_t)a : (uint64_t)a, y = b < 0 ? -(uint64_t)b : (uint64_t)b;
    while (y != 0) {
        uint64_t t = x % y;
        x = y;
        y = t;
    }
    *result = (int64_t)x;
    return RPS_OK;
}

/* Another one that traps: a / b, reporting division by zero with its site. */
RPS_EXPORT int32_t hello_div(int64_t *result, int64_t a, int64_t b) {
    if (b == 0) {
        if (hello_rt) {
            hello_rt->trap_function = "div";
            hello_rt->trap_location = "hello.c:52:59";
        }
        return RPS_TRAP_DIVZERO;
    }
    *result = (a == INT64_MIN && b == -1) ? INT64_MIN : a / b;
    return RPS_OK;
}

int32_t rps_plugin_init(const rps_plugin_api *api) {
    if (api->abi_version != RPS_PLUGIN_ABI_VERSION || api->struct_size < sizeof(rps_plugin_api))
        return 1;
    hello_rt = api->rt;
    const char *priority = api->argument(api->host, "priority");
    int32_t prio = 0;
    for (const char *p = priority; p && *p >= '0' && *p <= '9'; ++p)
        prio = prio * 10 + (*p - '0');
    int32_t status = api->register_extension(api->host, "combine", "add", (void *)hello_combine_add, prio,
                                             "i64(i64,i64)");
    if (status != RPS_REGISTER_OK)
        return status;   /* the host undoes every registration of this plugin */
    api->log(api->host, RPS_LOG_INFO, "hello_c initialised");
    return 0;
}

void rps_plugin_fini(void) {
    hello_rt = 0;
    hello_calls = 0;
}
