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
/* Version 2's traps on the heap (rpsrt.errors TRAP_NULL_OBJECT .. TRAP_FAILED), as the host heap API
 * returns them; its detail (an attribute's name, the kinds of a mismatch) stays with the host. */
#define RPS_TRAP_NULL_OBJECT 5
#define RPS_TRAP_FAILED 17
/* The host heap API raised something that is not a trap (rpsrt.abi.HEAP_HOST_ERROR). */
#define RPS_HEAP_HOST_ERROR 100

/* Version 2: a str, an obj or a value crosses the ABI as a handle: the address of an object the host keeps
 * alive for the current outermost call (0: null). */
typedef int64_t rps_handle;

/* The host heap API (rpsrt.abi.HEAP_OP_FN): operation `op` (rpsrt.abi.HEAP_OP_NAMES), `aux` =
 * "KINDS|STATIC" (result kind, then one letter per argument: i int, f float bits, b bool, h handle,
 * v void), the arguments as 64-bit words; 0 or a trap code. */
typedef int32_t (*rps_heap_op_fn)(int32_t op, const char *aux, int64_t *result, int32_t nargs,
                                  const int64_t *args, const char *function, const char *location);
#define RPS_HEAP_API_VERSION 2
/* Heap API version 2: the fast entry (rpsrt.abi.HEAP_FAST_FN) for the hottest operations, each a heap_op
 * operation with fixed kinds (rpsrt.abi.HEAP_FAST_OPS): the operands as heap_op's words in registers (unused
 * ones 0). Returns 0 when it did the operation (its result in *result); anything else when it did nothing
 * (no trap, no effect): then make the same operation through heap_op. */
typedef int32_t (*rps_heap_fast_fn)(int32_t op, int64_t a, int64_t b, int64_t c, int64_t *result);
#define RPS_HEAP_FAST_GET_FLOAT 0
#define RPS_HEAP_FAST_GET_INT 1
#define RPS_HEAP_FAST_GET_OBJ 2
#define RPS_HEAP_FAST_GET_VALUE 3
#define RPS_HEAP_FAST_GET_STR 4
#define RPS_HEAP_FAST_SET_FLOAT 5
#define RPS_HEAP_FAST_SET_HANDLE 6
#define RPS_HEAP_FAST_COMP 7
#define RPS_HEAP_FAST_LENGTH 8
#define RPS_HEAP_FAST_UNBOX_OBJ 9
#define RPS_HEAP_FAST_UNBOX_FLOAT 10
#define RPS_HEAP_FAST_UNBOX_INT 11
#define RPS_HEAP_FAST_BOX_FLOAT 12
#define RPS_HEAP_OP_STR_CONST 53

static inline int64_t rps_f64_bits(double f) { int64_t i; __builtin_memcpy(&i, &f, sizeof i); return i; }
static inline double rps_bits_f64(int64_t i) { double f; __builtin_memcpy(&f, &i, sizeof f); return f; }

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
