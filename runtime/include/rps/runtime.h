/* rps/runtime.h: status type, trap codes, the shared run-time state and the arithmetic helpers that
 * code compiled by rpsc uses. Trap codes mirror rpsrt.errors (TRAP_*). */
#ifndef RPS_RUNTIME_H
#define RPS_RUNTIME_H

#include <stdint.h>

typedef int32_t rps_status;

#define RPS_OK 0
#define RPS_TRAP_DIVZERO 1
#define RPS_TRAP_CONVERSION 2
#define RPS_TRAP_RECURSION 3
#define RPS_TRAP_INTERRUPT 4

/* Run-time state shared by every compiled module of one host (the JIT and the plugins alike).
 * The host owns it; compiled code reaches it through a pointer set at load time. */
typedef struct rps_rt {
    volatile int32_t interrupt;   /* set non-zero by the host: the next loop back-edge traps */
    int32_t depth;                /* current call depth of compiled code */
    int32_t depth_limit;          /* calls nested deeper than this trap RPS_TRAP_RECURSION */
    int32_t reserved;
    const char *trap_function;    /* after a trap: the source name of the function that trapped */
    const char *trap_location;    /* after a trap: "file:line:col" of the operation that trapped */
} rps_rt;

#endif /* RPS_RUNTIME_H */
