/* rps/runtime.h: status type, trap codes, the shared run-time state and the arithmetic helpers that
 * code compiled by rpsc uses. Trap codes mirror rpsrt.errors (TRAP_*). */
#ifndef RPS_RUNTIME_H
#define RPS_RUNTIME_H

#include <stdint.h>

/* The status type and rps_rt are also written out by headers that `rpsc emit --header` generates: the
 * guard lets both kinds of header be included, in either order. */
#ifndef RPS_RT_STRUCT_DEFINED
#define RPS_RT_STRUCT_DEFINED
typedef int32_t rps_status;

#define RPS_OK 0
#define RPS_TRAP_DIVZERO 1
#define RPS_TRAP_CONVERSION 2
#define RPS_TRAP_RECURSION 3
#define RPS_TRAP_INTERRUPT 4

/* Run-time state of compiled code: one shared by every module of one host (api->rt: the recursion
 * limit, and the state of callers that bound none), and one per calling thread, which the host binds to
 * the pthread key *api->rt_key before it calls; an exported function of generated code runs on the
 * thread's state (pthread_getspecific), or on the shared one when none is bound.
 * This definition is `rpsrt.abi.rt_c_struct()` (RT_FIELDS), checked by tests/runtime/test_abi.py. */
typedef struct rps_rt {
    volatile int32_t interrupt;   /* set non-zero by the host: the next poll (loop back-edge, function entry) traps */
    int32_t depth;                /* current call depth of compiled code */
    int32_t depth_limit;          /* calls nested deeper than this trap RPS_TRAP_RECURSION */
    int32_t reserved;
    const char *trap_function;    /* after a trap: the source name of the function that trapped */
    const char *trap_location;    /* after a trap: "file:line:col" of the operation that trapped */
    void *trap_env;               /* compiled code: the jmp_buf of this thread's innermost exported call */
    int32_t trap_code;            /* compiled code: the code of the trap in flight */
    int32_t reserved2;
} rps_rt;
#endif

/* ---- Arithmetic helpers used by generated C (LANGUAGE.md semantics, no undefined behaviour) ----
 * Wrapping arithmetic goes through uint64_t; the unsigned-to-signed conversion back is the two's
 * complement one on every compiler rpsc supports (GCC and Clang document it); shifts take the count
 * modulo 64. Division, remainder and float->int conversion have no helper: rpsc's IR passes make their
 * traps explicit and leave operands that C's `/`, `%` and `(int64_t)` handle without undefined behaviour. */

#define RPS_I64_MIN (-INT64_C(9223372036854775807) - 1)

static inline int64_t rps_i64_add(int64_t a, int64_t b) { return (int64_t)((uint64_t)a + (uint64_t)b); }
static inline int64_t rps_i64_sub(int64_t a, int64_t b) { return (int64_t)((uint64_t)a - (uint64_t)b); }
static inline int64_t rps_i64_mul(int64_t a, int64_t b) { return (int64_t)((uint64_t)a * (uint64_t)b); }
static inline int64_t rps_i64_neg(int64_t a) { return (int64_t)((uint64_t)0 - (uint64_t)a); }
static inline int64_t rps_i64_abs(int64_t a) { return a < 0 ? rps_i64_neg(a) : a; }
static inline int64_t rps_i64_bnot(int64_t a) { return (int64_t)~(uint64_t)a; }
static inline int64_t rps_i64_shl(int64_t a, int64_t n) { return (int64_t)((uint64_t)a << ((uint64_t)n & 63u)); }
static inline int64_t rps_i64_ashr(int64_t a, int64_t n) {
    unsigned s = (unsigned)((uint64_t)n & 63u);
    /* arithmetic shift without relying on the implementation-defined signed >>: */
    uint64_t u = (uint64_t)a >> s;
    if (a < 0 && s != 0)
        u |= ~(UINT64_MAX >> s);
    return (int64_t)u;
}
static inline int64_t rps_i64_min(int64_t a, int64_t b) { return b < a ? b : a; }
static inline int64_t rps_i64_max(int64_t a, int64_t b) { return a < b ? b : a; }
static inline double rps_f64_min(double a, double b) { return b < a ? b : a; }
static inline double rps_f64_max(double a, double b) { return a < b ? b : a; }
static inline double rps_f64_abs(double a) { return __builtin_fabs(a); }
static inline double rps_f64_sqrt(double a) { return __builtin_sqrt(a); }

static inline double rps_i64_to_f64(int64_t a) { return (double)a; }

/* Call-depth bookkeeping: enter fails (RPS_TRAP_RECURSION) when the new depth would exceed the limit. */
static inline int rps_depth_enter(rps_rt *rt) {
    if (rt->depth >= rt->depth_limit) return 0;
    rt->depth++;
    return 1;
}
static inline rps_status rps_trap(rps_rt *rt, rps_status code, const char *function, const char *location) {
    rt->trap_function = function;
    rt->trap_location = location;
    return code;
}

#endif /* RPS_RUNTIME_H */
