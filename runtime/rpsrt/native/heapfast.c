/* rpsrt's fast path of the host heap API (docs/plugin-abi.md): the hot version-2 operations (attribute read
 * and write, component read, unboxing, float boxing, method lookup, object references) done in C on the
 * host's own Python objects, without a ctypes callback; every other operation, and every case that may trap,
 * goes to the Python entry (rpsrt.heaphost), which has the one semantics. Built by rpsrt.heaphost on first
 * use with the system's cc; without a compiler the Python entry is used directly.
 *
 * Dirty tracking (docs/store.md "Incremental dumps"): an object a dump sealed is a `CleanObject`, a subclass of
 * RpsObject whose hooks make it dirty on a change. Fields are read here through RpsObject's own slot
 * descriptors (a read leaves a clean object clean), and the attribute write makes the object dirty first,
 * exactly as the Python hooks do, by switching its class back to RpsObject. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <time.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <structmember.h>

/* The thread state holding the GIL, read inline: on 3.11 from the runtime's `gilstate` (CPython's own
 * internal header, whose _PyThreadState_GET is this very read); elsewhere through the exported call. An
 * operation then checks the GIL without a call, so its arguments stay in their registers. */
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
#define Py_BUILD_CORE 1
#undef _PyGC_FINALIZED
#include "internal/pycore_pystate.h"
#include "internal/pycore_dict.h"
#define HAVE_DICT_ENTRIES 1
#undef Py_BUILD_CORE
static inline PyThreadState *current_tstate(void) { return _PyThreadState_GET(); }
#else
static inline PyThreadState *current_tstate(void) { return _PyThreadState_UncheckedGet(); }
#endif

typedef int32_t (*heap_op_fn)(int32_t, const char *, int64_t *, int32_t, const int64_t *, const char *,
                              const char *);

static heap_op_fn slow_entry;
static PyObject *rpsobject, *classinfo, *closure, *clock_value, *entries;
static PyObject *s_attrs;
/* Byte offsets of the slots read here (RpsObject's attrs, comps, cls, payload, mtime; PayloadClassInfo's
 * methodict and superclass; VClosure's fn), taken from their member descriptors: a slot read through its
 * offset is exactly what the descriptor does (a read leaves a clean object clean), NULL when unset (a
 * ghost's fields before it is filled: the Python entry fills it). */
static Py_ssize_t off_attrs = -1, off_comps = -1, off_cls = -1, off_payload = -1, off_mtime = -1,
                  off_methodict = -1, off_superclass = -1, off_fn = -1;

#define SITES 1024
static const char *site_key[SITES];
static PyObject *site_obj[SITES];
/* method_entry's answers, by (function object, signature text): what the Python entry answered */
static PyObject *entry_fn[SITES];
static const char *entry_sig[SITES];
static int64_t entry_addr[SITES];

static void set(PyObject **slot, PyObject *v) { Py_XINCREF(v); Py_XDECREF(*slot); *slot = v; }

/* ---------------------------------------------------------------- handles
 * A handle is the address of the Python object it stands for (0: None, null). The arena holds a strong
 * reference to every object handed out since the outermost heap call began, so a handle stays valid until
 * that call returns and `reset()` empties the arena. Handing a value out is an append (a reference and a
 * store, in sequence): the set of addresses (open addressing), through which the Python entry checks a
 * handle it is given (`value`), is filled only when it is asked and something is pending, or when a million
 * handles are pending (`arena_sync`: each object is then entered once, and a second reference to it is let
 * go). A call that hands out many objects once each (a loop over components) so touches no table at random;
 * one that hands out one object again and again keeps at most a million references to it. */
static PyObject **arena;
static Py_ssize_t arena_n, arena_cap;
static Py_ssize_t arena_synced;   /* arena[0, arena_synced) are in the set, each object once; the rest pend */
#define PENDING_MAX ((Py_ssize_t)1 << 20)
static uintptr_t *hset;
static size_t hset_cap, hset_n;   /* hset_cap: 0 or a power of two, 2^hset_bits */
static unsigned hset_bits;

/* Fibonacci hashing of the address (objects are 16-byte aligned): neighbours in memory spread out, so the
 * linear probes stay short */
static inline size_t hslot(uintptr_t p) { return (size_t)(((uint64_t)(p >> 4) * 0x9E3779B97F4A7C15ull) >> (64 - hset_bits)); }

static int hset_has(uintptr_t p)
{
    if (!hset_cap) return 0;
    for (size_t i = hslot(p);; i = (i + 1) & (hset_cap - 1)) {
        if (hset[i] == p) return 1;
        if (!hset[i]) return 0;
    }
}

static int hset_grow(void)
{
    size_t ncap = hset_cap ? hset_cap * 2 : 1024;
    uintptr_t *old = hset, *nt = calloc(ncap, sizeof *nt);
    size_t ocap = hset_cap;
    if (!nt) return -1;
    hset = nt; hset_cap = ncap; hset_bits = 0;
    while (((size_t)1 << hset_bits) < ncap) hset_bits++;
    for (size_t j = 0; j < ocap; j++)
        if (old[j]) {
            size_t i = hslot(old[j]);
            while (hset[i]) i = (i + 1) & (hset_cap - 1);
            hset[i] = old[j];
        }
    free(old);
    return 0;
}

/* Enter p into the set: 1 entered, 0 it was there, -1 out of memory. */
static int hset_add(uintptr_t p)
{
    if ((hset_n + 1) * 2 > hset_cap && hset_grow() < 0) return -1;
    size_t i = hslot(p);
    while (hset[i]) {
        if (hset[i] == p) return 0;
        i = (i + 1) & (hset_cap - 1);
    }
    hset[i] = p;
    hset_n++;
    return 1;
}

/* Enter the pending handles into the set, each object once: a second reference to one is let go (never its
 * last: the arena keeps the first, so no finalizer runs here). 0 ok, -1 out of memory (the arena unchanged
 * but compacted so far; what is left stays pending). */
static int arena_sync(void)
{
    Py_ssize_t w = arena_synced, i = arena_synced;
    int r = 0;
    for (; i < arena_n; i++) {
        PyObject *v = arena[i];
        int added = hset_add((uintptr_t)v);
        if (added < 0) { r = -1; break; }
        if (added) arena[w++] = v;
        else Py_DECREF(v);
    }
    Py_ssize_t rest = arena_n - i;
    if (rest) memmove(&arena[w], &arena[i], (size_t)rest * sizeof *arena);
    arena_synced = w;
    arena_n = w + rest;
    return r;
}

static __attribute__((noinline)) int arena_room(void)
{
    if (arena_n - arena_synced >= PENDING_MAX && arena_sync() == 0 && arena_n < arena_cap) return 0;
    Py_ssize_t ncap = arena_cap ? arena_cap * 2 : 1024;
    PyObject **na = realloc(arena, (size_t)ncap * sizeof *na);
    if (!na) return -1;
    arena = na; arena_cap = ncap;
    return 0;
}

/* `v`'s handle, `v` kept alive until the arena is reset: 0 ok, -1 out of memory (no Python error set). */
static inline int handle_of(PyObject *v, int64_t *out)
{
    if (v == Py_None) { *out = 0; return 0; }
    if (arena_n == arena_cap && arena_room() < 0) return -1;
    Py_INCREF(v);
    arena[arena_n++] = v;
    *out = (int64_t)(uintptr_t)v;
    return 0;
}

/* Whether h is a handle of this call (the pending ones entered first when h is not in the set yet). */
static int arena_has(uintptr_t h)
{
    if (hset_has(h)) return 1;
    if (arena_synced == arena_n) return 0;
    return arena_sync() == 0 ? hset_has(h) : 0;
}

/* The object of handle `h` (borrowed). Compiled code passes only handles it was given in this call. */
static inline PyObject *item(int64_t h) { return h ? (PyObject *)(uintptr_t)h : Py_None; }

static void arena_reset(void)
{
    Py_ssize_t n = arena_n, cap = arena_cap;
    PyObject **a = arena;
    arena = NULL; arena_n = arena_cap = arena_synced = 0;
    /* a table much bigger than this call needed is given back (the next big call grows it again) */
    if (hset_cap > 4096 && hset_n < hset_cap / 16) { free(hset); hset = NULL; hset_cap = 0; hset_bits = 0; }
    else if (hset_n) memset(hset, 0, hset_cap * sizeof *hset);
    hset_n = 0;
    /* may run finalizers: the arena is already empty (one a finalizer starts is its own). The objects are cold
     * by now (a big call handed out many): their reference counts are fetched some iterations ahead, so that
     * the misses overlap. */
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i + 16 < n) __builtin_prefetch(a[i + 16], 1);
        Py_DECREF(a[i]);
    }
    /* the buffer is kept for the next call, unless a finalizer started an arena or it is much too big */
    if (!arena && cap <= 4 * (n > 1024 ? n : 1024)) { arena = a; arena_cap = cap; }
    else free(a);
}

/* An object of the heap: an RpsObject, clean (its subclass CleanObject) or dirty. */
static inline int is_obj(PyObject *v) { return PyObject_TypeCheck(v, (PyTypeObject *)rpsobject); }

/* The slot at byte offset `off` of `o` (borrowed; NULL when unset or unknown). */
static inline PyObject *slot(PyObject *o, Py_ssize_t off) { return off < 0 ? NULL : *(PyObject **)((char *)o + off); }

/* Before a change: a clean object becomes dirty, through its own hook (reading its `attrs` property switches
 * its class back to RpsObject and notes it for the next dump). 0 ok, -1 error. */
static int make_dirty(PyObject *o)
{
    if (Py_TYPE(o) == (PyTypeObject *)rpsobject) return 0;
    PyObject *a = PyObject_GetAttr(o, s_attrs);
    if (!a) return -1;
    Py_DECREF(a);
    return Py_TYPE(o) == (PyTypeObject *)rpsobject ? 0 : -1;
}

/* The byte offset of the member slot `name` of `type` (-1 when it is not a plain object slot). */
static Py_ssize_t member_offset(PyObject *type, const char *name)
{
    PyObject *d = PyDict_GetItemString(((PyTypeObject *)type)->tp_dict, name);
    if (!d || !PyObject_TypeCheck(d, &PyMemberDescr_Type)) return -1;
    PyMemberDef *m = ((PyMemberDescrObject *)d)->d_member;
    return (m->type == T_OBJECT_EX || m->type == T_OBJECT) ? m->offset : -1;
}

/* Native sends call each other directly (method_entry), so a deep recursion of sends uses the thread's
 * C stack: below STACK_MARGIN bytes left, method_entry answers nothing here, and the Python entry traps
 * RECURSION at the send instead of letting the next call overflow the stack. */
#define STACK_MARGIN (256 * 1024)
/* (initial-exec: a few bytes of the static TLS that glibc keeps for libraries loaded later, read without a
 * __tls_get_addr call on every operation) */
#define TLS __thread __attribute__((tls_model("initial-exec")))
static TLS const char *stack_low;
static TLS int stack_probed;

int rps_heapfast_stack_low(void)   /* 1 when this thread's stack has less than STACK_MARGIN left */
{
    char here;
    if (!stack_probed) {
        pthread_attr_t a;
        void *addr;
        size_t size;
        stack_probed = 1;
        if (pthread_getattr_np(pthread_self(), &a) == 0) {
            if (pthread_attr_getstack(&a, &addr, &size) == 0)
                stack_low = (const char *)addr;
            pthread_attr_destroy(&a);
        }
    }
    return stack_low != NULL && &here > stack_low && (size_t)(&here - stack_low) < STACK_MARGIN;
}

/* The static operand of `aux` ("KINDS|AUX", KINDS one letter for the result and one per argument). */
static inline const char *static_part_n(const char *aux, int32_t nargs)
{
    if (nargs >= 0 && nargs < 16 && aux[nargs + 1] == '|') return aux + nargs + 2;
    const char *bar = strchr(aux, '|');
    return bar ? bar + 1 : "";
}

/* The type names of a static operand ("float", ...), compared inline, character by character. */
#define IS_FLOAT(t) ((t)[0] == 'f' && (t)[1] == 'l' && (t)[2] == 'o' && (t)[3] == 'a' && (t)[4] == 't' && !(t)[5])
#define IS_INT(t) ((t)[0] == 'i' && (t)[1] == 'n' && (t)[2] == 't' && !(t)[3])
#define IS_VALUE(t) ((t)[0] == 'v' && (t)[1] == 'a' && (t)[2] == 'l' && (t)[3] == 'u' && (t)[4] == 'e' && !(t)[5])
#define IS_STR(t) ((t)[0] == 's' && (t)[1] == 't' && (t)[2] == 'r' && !(t)[3])
#define IS_OBJ(t) ((t)[0] == 'o' && (t)[1] == 'b' && (t)[2] == 'j' && !(t)[3])

/* Dictionary access by a key of the default (identity) hash, with the hash computed here: CPython's pointer
 * hash (the address rotated by 4 bits), used only when `setup` found it equal to what PyObject_Hash gives
 * (`known_hash`), and only before 3.13 (the versions whose headers this was built and checked against;
 * later ones take the plain calls). */
static int known_hash;
static inline Py_hash_t pointer_hash(PyObject *p)
{
    size_t y = (size_t)p;
    Py_hash_t x = (Py_hash_t)((y >> 4) | (y << (8 * sizeof(size_t) - 4)));
    return x == -1 ? -2 : x;
}
static inline PyObject *dict_get(PyObject *d, PyObject *k)   /* borrowed; NULL: absent or error */
{
#if PY_VERSION_HEX < 0x030D0000
    if (known_hash && Py_TYPE(k)->tp_hash == PyBaseObject_Type.tp_hash)
        return _PyDict_GetItem_KnownHash(d, k, pointer_hash(k));
#endif
    return PyDict_GetItemWithError(d, k);
}
static inline int dict_set(PyObject *d, PyObject *k, PyObject *v)
{
#if PY_VERSION_HEX < 0x030D0000
    if (known_hash && Py_TYPE(k)->tp_hash == PyBaseObject_Type.tp_hash)
        return _PyDict_SetItem_KnownHash(d, k, v, pointer_hash(k));
#endif
    return PyDict_SetItem(d, k, v);
}

/* Where an attribute sits in an attribute dictionary, remembered (on 3.11, whose dictionary layout is the
 * internal header's): an object's attributes are a dict of a general (not string) key table, whose entries
 * are an array of (hash, key, value) in insertion order, and objects of one kind tend to have their
 * attributes at the same index. `entry_value` looks at the remembered index of key `k` first (a hint only:
 * the entry must hold `k` itself), then at the first few entries; NULL when not found that way (the caller
 * then asks the dictionary). Keys are compared, never dereferenced. */
#ifdef HAVE_DICT_ENTRIES
#define HINTS 256
#define HINT_SCAN 8
static PyObject *hint_key[HINTS];
static Py_ssize_t hint_ix[HINTS];
static inline PyObject **entry_value(PyObject *d, PyObject *k)
{
    PyDictObject *mp = (PyDictObject *)d;
    PyDictKeysObject *dk = mp->ma_keys;
    if (mp->ma_values || dk->dk_kind != DICT_KEYS_GENERAL) return NULL;
    PyDictKeyEntry *ep = DK_ENTRIES(dk);
    Py_ssize_t n = dk->dk_nentries;
    size_t h = ((uintptr_t)k >> 4) % HINTS;
    if (hint_key[h] == k) {
        Py_ssize_t i = hint_ix[h];
        if (i < n && ep[i].me_key == k && ep[i].me_value) return &ep[i].me_value;
    }
    for (Py_ssize_t i = 0; i < n && i < HINT_SCAN; i++)
        if (ep[i].me_key == k) {
            if (!ep[i].me_value) return NULL;
            hint_key[h] = k;
            hint_ix[h] = i;
            return &ep[i].me_value;
        }
    return NULL;
}
#else
static inline PyObject **entry_value(PyObject *d, PyObject *k) { (void)d; (void)k; return NULL; }
#endif

/* d[k] (borrowed; NULL: absent or error), through the remembered entry when it holds k */
static inline PyObject *attr_get(PyObject *d, PyObject *k)
{
    PyObject **e = entry_value(d, k);
    return e ? *e : dict_get(d, k);
}

/* The type of a static operand ("float", ...), compared inline, character by character; TY_OTHER for any
 * other text. */
enum { TY_OTHER, TY_FLOAT, TY_INT, TY_VALUE, TY_STR, TY_OBJ };
static inline int type_code(const char *t)
{
    if (IS_FLOAT(t)) return TY_FLOAT;
    if (IS_INT(t)) return TY_INT;
    if (IS_VALUE(t)) return TY_VALUE;
    if (IS_STR(t)) return TY_STR;
    if (IS_OBJ(t)) return TY_OBJ;
    return TY_OTHER;
}

/* The typed reading of a value `v` (borrowed) as type `t` (T_*): 1 done, 0 not here (slow path). */
static inline __attribute__((always_inline)) int typed(PyObject *v, int t, int64_t *result)
{
    switch (t) {
    case TY_FLOAT: {
        if (!PyFloat_CheckExact(v)) return 0;
        double d = PyFloat_AS_DOUBLE(v);
        memcpy(result, &d, sizeof d);
        return 1;
    }
    case TY_INT: {
        if (!PyLong_CheckExact(v)) return 0;
        int overflow = 0;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (overflow || (x == -1 && PyErr_Occurred())) { PyErr_Clear(); return 0; }
        *result = x;
        return 1;
    }
    case TY_VALUE: return handle_of(v, result) == 0;
    case TY_STR: return PyUnicode_CheckExact(v) && handle_of(v, result) == 0;
    case TY_OBJ: return is_obj(v) && handle_of(v, result) == 0;
    default: return 0;
    }
}

/* ---------------------------------------------------------------- the operations
 * Each core below does one operation on the host's objects and answers 1, or answers 0 having done nothing
 * (no effect, no Python error left set): the case then goes to the Python entry, which has the one
 * semantics. Both entries use them: `heap_op` (its static operand and kinds parsed) and `heap_fast` (the
 * same operation with its kinds fixed by its code). */

/* attribute `a` of object `o`, read as type `t` */
static inline __attribute__((always_inline)) int core_get_attr(PyObject *o, PyObject *a, int t, int64_t *result)
{
    if (!is_obj(o)) return 0;
    PyObject *attrs = slot(o, off_attrs);
    if (!attrs || !PyDict_CheckExact(attrs)) return 0;
    PyObject *v = attr_get(attrs, a);
    if (!v) { PyErr_Clear(); return 0; }
    return v != Py_None && typed(v, t, result);
}

/* o.a = the float `d` (boxed here) when `boxed` is NULL, else = `boxed` (a handle's object, not null).
 * `dirtying`: a clean object may be made dirty here first (through its Python hook, which runs code), as
 * the `heap_op` entry does; without it (`heap_fast`, which promises no effect when it declines) a clean
 * object is left to `heap_op`. Everything that may decline is checked before the object is made dirty. */
static inline __attribute__((always_inline)) int core_set_attr(PyObject *o, PyObject *a, PyObject *boxed, double d,
                                                               int dirtying)
{
    if (!clock_value || !is_obj(o) || off_mtime < 0) return 0;
    PyObject *attrs = slot(o, off_attrs);
    if (!attrs || !PyDict_CheckExact(attrs) || !slot(o, off_mtime)) return 0;
    if (Py_TYPE(o) != (PyTypeObject *)rpsobject) {
        if (!dirtying) return 0;
        if (make_dirty(o) < 0) { PyErr_Clear(); return 0; }
        attrs = slot(o, off_attrs);   /* (its hook ran code: look again) */
        if (!attrs || !PyDict_CheckExact(attrs) || !slot(o, off_mtime)) return 0;
    }
    int bad;
    PyObject **e;
    if (!boxed && (e = entry_value(attrs, a)) != NULL && PyFloat_CheckExact(*e) && Py_REFCNT(*e) == 1) {
        /* the float the attribute holds is referenced by the dictionary alone (no snapshot, handle or
         * Python variable sees it): it takes the new value in place, as a new float there would. (The
         * dictionary is not changed, so its ma_version_tag stays: 3.11, the one version this is built for,
         * reads it nowhere; 3.12's watchers and immortal objects would need another look.) */
        ((PyFloatObject *)*e)->ob_fval = d;
        bad = 0;
    } else if (!boxed) {
        PyObject *v = PyFloat_FromDouble(d);
        if (!v) { PyErr_Clear(); return 0; }
        bad = dict_set(attrs, a, v) < 0;
        Py_DECREF(v);
    } else {
        bad = dict_set(attrs, a, boxed) < 0;
    }
    if (bad) { PyErr_Clear(); return 0; }
    PyObject **m = (PyObject **)((char *)o + off_mtime), *old = *m;
    Py_INCREF(clock_value);
    *m = clock_value;
    Py_XDECREF(old);
    return 1;
}

/* component `i` of `o` (`length`: how many it has) */
static inline __attribute__((always_inline)) int core_comp(PyObject *o, int length, int64_t i, int64_t *result)
{
    if (!is_obj(o)) return 0;
    PyObject *comps = slot(o, off_comps);
    if (!comps || !PyList_CheckExact(comps)) return 0;
    Py_ssize_t n = PyList_GET_SIZE(comps);
    if (length) { *result = n; return 1; }
    if (i < 0 || i >= n) return 0;
    return handle_of(PyList_GET_ITEM(comps, i), result) == 0;
}

/* the value of handle `h` as type `t` */
static inline __attribute__((always_inline)) int core_unbox(int64_t h, int t, int64_t *result)
{
    PyObject *v = item(h);
    if (t == TY_OBJ) {
        if (v != Py_None && !is_obj(v)) return 0;
        *result = h;   /* an object's handle is the same as a value or as an obj */
        return 1;
    }
    return v != Py_None && typed(v, t, result);
}

static inline __attribute__((always_inline)) int core_box_float(double d, int64_t *result)
{
    PyObject *f = PyFloat_FromDouble(d);
    if (!f) { PyErr_Clear(); return 0; }
    int r = handle_of(f, result);
    Py_DECREF(f);
    return r == 0;
}

static inline double bits_f64(int64_t w) { double d; memcpy(&d, &w, sizeof d); return d; }

/* The operation codes done here: rpsrt.abi.HEAP_OP_NAMES never changes an index (only appends), and `setup`
 * checks these against the codes the host passes. */
enum { OP_BOX_FLOAT = 2, OP_UNBOX = 3, OP_OBJREF = 16, OP_GET_ATTR = 17, OP_SET_ATTR = 18, OP_LENGTH = 23,
       OP_COMP = 24, OP_SEND = 31, OP_METHOD_ENTRY = 54 };

#define HEAP_OP_PARAMS int32_t op, const char *aux, int64_t *result, int32_t nargs, const int64_t *args, \
                       const char *function, const char *location
#define HEAP_OP_ARGS op, aux, result, nargs, args, function, location

/* Every operation, and every case, not done here: the Python entry (with the GIL held). */
static __attribute__((noinline)) int32_t slow(HEAP_OP_PARAMS)
{
    int32_t r = slow_entry ? slow_entry(HEAP_OP_ARGS) : 100;
    if (r == 0 && op == OP_OBJREF && nargs == 0) {   /* remember the object of this site */
        PyObject *o = item(*result);
        if (o != Py_None) {
            uintptr_t i = ((uintptr_t)aux >> 3) % SITES;
            site_key[i] = aux;
            set(&site_obj[i], o);
        }
    }
    return r;
}

/* Each operation done here answers (0), or hands the call to `slow` untouched (no Python error left set). */
static __attribute__((noinline)) int32_t f_get_attr(HEAP_OP_PARAMS)
{
    if (nargs != 2) return slow(HEAP_OP_ARGS);
    return core_get_attr(item(args[0]), item(args[1]), type_code(static_part_n(aux, nargs)), result)
        ? 0 : slow(HEAP_OP_ARGS);
}

static __attribute__((noinline)) int32_t f_set_attr(HEAP_OP_PARAMS)
{
    /* the value is a handle ("vhhh"), or a float the write boxes itself ("vhhf", docs/ir.md) */
    if (nargs != 3) return slow(HEAP_OP_ARGS);
    char vk = aux[3];
    if ((vk != 'h' && vk != 'f') || (vk == 'h' && args[2] == 0)) return slow(HEAP_OP_ARGS);
    if (!core_set_attr(item(args[0]), item(args[1]), vk == 'h' ? item(args[2]) : NULL, bits_f64(args[2]), 1))
        return slow(HEAP_OP_ARGS);
    *result = 0;
    return 0;
}

static __attribute__((noinline)) int32_t f_comp(HEAP_OP_PARAMS)   /* comp (2 arguments) and length (1) */
{
    if (nargs != (op == OP_LENGTH ? 1 : 2)) return slow(HEAP_OP_ARGS);
    return core_comp(item(args[0]), op == OP_LENGTH, op == OP_LENGTH ? 0 : args[1], result) ? 0 : slow(HEAP_OP_ARGS);
}

static __attribute__((noinline)) int32_t f_unbox(HEAP_OP_PARAMS)
{
    if (nargs != 1) return slow(HEAP_OP_ARGS);
    return core_unbox(args[0], type_code(static_part_n(aux, nargs)), result) ? 0 : slow(HEAP_OP_ARGS);
}

static __attribute__((noinline)) int32_t f_box_float(HEAP_OP_PARAMS)
{
    if (nargs != 1) return slow(HEAP_OP_ARGS);
    return core_box_float(bits_f64(args[0]), result) ? 0 : slow(HEAP_OP_ARGS);
}

static __attribute__((noinline)) int32_t f_send(HEAP_OP_PARAMS)
{
    if (nargs != 2) return slow(HEAP_OP_ARGS);
    PyObject *o = item(args[0]), *sel = item(args[1]);
    if (!is_obj(o) || off_payload < 0 || off_methodict < 0 || off_superclass < 0 || off_fn < 0)
        return slow(HEAP_OP_ARGS);
    PyObject *k = slot(o, off_cls);
    for (int depth = 0; k && k != Py_None && depth < 256; depth++) {
        if (!is_obj(k)) break;
        PyObject *pl = slot(k, off_payload);
        if (!pl || Py_TYPE(pl) != (PyTypeObject *)classinfo) break;
        PyObject *md = slot(pl, off_methodict);
        if (!md || !PyDict_CheckExact(md)) break;
        PyObject *clo = dict_get(md, sel);
        if (clo) {
            if (Py_TYPE(clo) != (PyTypeObject *)closure) break;
            PyObject *f = slot(clo, off_fn);
            return f && f != Py_None && handle_of(f, result) == 0 ? 0 : slow(HEAP_OP_ARGS);
        }
        if (PyErr_Occurred()) { PyErr_Clear(); break; }
        k = slot(pl, off_superclass);
    }
    return slow(HEAP_OP_ARGS);
}

static __attribute__((noinline)) int32_t f_method_entry(HEAP_OP_PARAMS)   /* only what the Python entry answered before */
{
    if (nargs != 1 || !entries || rps_heapfast_stack_low()) return slow(HEAP_OP_ARGS);
    PyObject *f = item(args[0]);
    uintptr_t i = (((uintptr_t)f >> 4) ^ ((uintptr_t)aux >> 3)) % SITES;
    if (entry_fn[i] == f && entry_sig[i] == aux) { *result = entry_addr[i]; return 0; }
    PyObject *key = PyLong_FromVoidPtr(f);
    if (!key) { PyErr_Clear(); return slow(HEAP_OP_ARGS); }
    PyObject *e = PyDict_GetItemWithError(entries, key);
    Py_DECREF(key);
    if (!e || !PyTuple_CheckExact(e) || PyTuple_GET_SIZE(e) != 2 || !PyBytes_CheckExact(PyTuple_GET_ITEM(e, 1))
        || strcmp(PyBytes_AS_STRING(PyTuple_GET_ITEM(e, 1)), static_part_n(aux, nargs)) != 0) {
        PyErr_Clear();
        return slow(HEAP_OP_ARGS);
    }
    long long a = PyLong_AsLongLong(PyTuple_GET_ITEM(e, 0));
    if (a == -1 && PyErr_Occurred()) { PyErr_Clear(); return slow(HEAP_OP_ARGS); }
    set(&entry_fn[i], f);   /* kept alive with the cache: the address stays the answer for it */
    entry_sig[i] = aux;
    entry_addr[i] = a;
    *result = a;
    return 0;
}

static __attribute__((noinline)) int32_t f_objref(HEAP_OP_PARAMS)
{
    /* the object of this site as the Python entry resolved it in this outermost call (objects are never
     * taken out of the heap during a call; the cache is emptied when the next call is installed) */
    if (nargs != 0) return slow(HEAP_OP_ARGS);
    uintptr_t i = ((uintptr_t)aux >> 3) % SITES;
    PyObject *o = site_key[i] == aux ? site_obj[i] : NULL;
    return o && handle_of(o, result) == 0 ? 0 : slow(HEAP_OP_ARGS);
}

/* One operation, with the GIL held: a jump to the function of its code (each ends in a tail call). */
static inline __attribute__((always_inline)) int32_t dispatch(HEAP_OP_PARAMS)
{
    if (!rpsobject) return slow(HEAP_OP_ARGS);
    switch (op) {
    case OP_GET_ATTR: return f_get_attr(HEAP_OP_ARGS);
    case OP_SET_ATTR: return f_set_attr(HEAP_OP_ARGS);
    case OP_COMP: case OP_LENGTH: return f_comp(HEAP_OP_ARGS);
    case OP_UNBOX: return f_unbox(HEAP_OP_ARGS);
    case OP_BOX_FLOAT: return f_box_float(HEAP_OP_ARGS);
    case OP_SEND: return f_send(HEAP_OP_ARGS);
    case OP_METHOD_ENTRY: return f_method_entry(HEAP_OP_ARGS);
    case OP_OBJREF: return f_objref(HEAP_OP_ARGS);
    default: return slow(HEAP_OP_ARGS);
    }
}

/* ---------------------------------------------------------------- the GIL and Ctrl-C
 * Compiled heap code runs with the GIL held (rpsrt.heaphost): an operation then costs no GIL hand-over. Two
 * things keep that from starving the rest of the process:
 * - every YIELD_EVERY operations, once two switch intervals have passed, the GIL is released and taken again,
 *   so that a thread waiting for it (the main thread, to run its signal handlers) gets it;
 * - while a heap call runs, SIGINT sets the interrupt flag of the state that call runs on (`arm`), from the
 *   signal itself, so that the compiled code's next loop back-edge or entry traps INTERRUPT even when it
 *   does no heap operation (then Python's own handler runs, as always). */
#define YIELD_EVERY 4096
static unsigned yield_count;
static int64_t yield_ns = 5000000, last_yield;   /* the interpreter's switch interval (sys.getswitchinterval) */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Give the GIL up and take it again, once two switch intervals have passed since the last time. Not more
 * often: a thread waiting for the GIL asks for it (and is then handed it at the next release) only when its
 * wait of one whole interval ran out, and a release that this thread wins back wakes it up and starts its
 * wait again; at one interval the two race. */
static void maybe_yield(void)
{
    int64_t t = now_ns();
    if (t - last_yield < 2 * yield_ns) return;
    Py_BEGIN_ALLOW_THREADS
    Py_END_ALLOW_THREADS
    last_yield = now_ns();
}
static TLS PyThreadState *this_tstate;   /* this thread's Python state, once known */

#define ARMED_MAX 64
static volatile int32_t *volatile armed[ARMED_MAX];
static volatile sig_atomic_t armed_n;
static struct sigaction chained;
static int have_chained;

static void on_sigint(int sig, siginfo_t *info, void *ctx)
{
    for (sig_atomic_t i = 0; i < armed_n && i < ARMED_MAX; i++)
        if (armed[i]) *armed[i] = 1;
    if (!have_chained) return;
    if (chained.sa_flags & SA_SIGINFO) {
        if (chained.sa_sigaction) chained.sa_sigaction(sig, info, ctx);
    } else if (chained.sa_handler == SIG_DFL) {   /* what SIGINT would have done: end the process */
        signal(sig, SIG_DFL);
        raise(sig);
    } else if (chained.sa_handler != SIG_IGN && chained.sa_handler) {
        chained.sa_handler(sig);
    }
}

/* SIGINT's handler is ours, chaining to the one found (Python's); reinstalled when someone replaced it. */
static void ensure_handler(void)
{
    struct sigaction cur;
    if (sigaction(SIGINT, NULL, &cur) != 0) return;
    if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_sigint) return;
    if (!(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == SIG_IGN) return;   /* SIGINT ignored: it stays so */
    struct sigaction mine;
    memset(&mine, 0, sizeof mine);
    mine.sa_sigaction = on_sigint;
    mine.sa_flags = SA_SIGINFO | SA_ONSTACK | (cur.sa_flags & SA_RESTART);
    sigemptyset(&mine.sa_mask);
    chained = cur;
    have_chained = 1;
    sigaction(SIGINT, &mine, NULL);
}

/* The cold ways into an operation, out of line so that the entry itself makes no call (its arguments stay
 * in their registers and it ends in a jump): without the GIL (code called through a prototype that releases
 * it: the GIL is taken for the operation), on a thread whose state is not known yet, and at a yield. */
static __attribute__((noinline, cold)) int32_t op_without_gil(HEAP_OP_PARAMS)
{
    PyGILState_STATE g = PyGILState_Ensure();
    int32_t r = dispatch(HEAP_OP_ARGS);
    PyGILState_Release(g);
    return r;
}

static __attribute__((noinline, cold)) int32_t op_first_on_thread(HEAP_OP_PARAMS)
{
    this_tstate = PyGILState_GetThisThreadState();   /* NULL for a thread Python never saw */
    PyThreadState *cur = current_tstate();
    if (!cur || cur != this_tstate) return op_without_gil(HEAP_OP_ARGS);
    return dispatch(HEAP_OP_ARGS);
}

static __attribute__((noinline, cold)) int32_t op_at_yield(HEAP_OP_PARAMS)
{
    maybe_yield();
    return dispatch(HEAP_OP_ARGS);
}

/* The `heap_op` entry of compiled code (rpsrt.abi.HEAP_OP_FN): with the GIL held by this thread (the
 * current thread state is this thread's), straight to the operation. */
int32_t rps_heapfast_op(HEAP_OP_PARAMS)
{
    PyThreadState *mine = this_tstate, *cur = current_tstate();
    if (__builtin_expect(!mine, 0)) return op_first_on_thread(HEAP_OP_ARGS);
    if (__builtin_expect(!cur || cur != mine, 0)) return op_without_gil(HEAP_OP_ARGS);
    if (__builtin_expect(++yield_count % YIELD_EVERY == 0, 0)) return op_at_yield(HEAP_OP_ARGS);
    return dispatch(HEAP_OP_ARGS);
}

/* The `heap_fast` entry (heap API version 2, rpsrt.abi.HEAP_FAST_FN): the operations of HEAP_FAST_OPS with
 * their operands in registers, no static operand to read and no array of words. 0: done; 1: nothing done
 * (another thread's GIL, a thread not seen yet, or a case for the Python entry): the caller then makes the
 * same operation through `heap_op`. It counts towards the next yield as `heap_op` does. */
enum { FAST_GET_FLOAT, FAST_GET_INT, FAST_GET_OBJ, FAST_GET_VALUE, FAST_GET_STR, FAST_SET_FLOAT, FAST_SET_HANDLE,
       FAST_COMP, FAST_LENGTH, FAST_UNBOX_OBJ, FAST_UNBOX_FLOAT, FAST_UNBOX_INT, FAST_BOX_FLOAT, FAST_N };
static const char *const fast_names[FAST_N] = {
    "get_float", "get_int", "get_obj", "get_value", "get_str", "set_float", "set_handle", "comp", "length",
    "unbox_obj", "unbox_float", "unbox_int", "box_float"};

/* One function per operation (each small, so that it saves few registers), reached by a jump. */
#define FAST_PARAMS int64_t a, int64_t b, int64_t c, int64_t *result
typedef int32_t (*fast_fn)(FAST_PARAMS);
#define FAST_GET(name, ty) \
    static __attribute__((noinline)) int32_t name(FAST_PARAMS) { return !core_get_attr(item(a), item(b), ty, result); }
FAST_GET(x_get_float, TY_FLOAT)
FAST_GET(x_get_int, TY_INT)
FAST_GET(x_get_obj, TY_OBJ)
FAST_GET(x_get_value, TY_VALUE)
FAST_GET(x_get_str, TY_STR)
static __attribute__((noinline)) int32_t x_set_float(FAST_PARAMS)
{
    if (!core_set_attr(item(a), item(b), NULL, bits_f64(c), 0)) return 1;
    *result = 0;
    return 0;
}
static __attribute__((noinline)) int32_t x_set_handle(FAST_PARAMS)
{
    if (c == 0 || !core_set_attr(item(a), item(b), item(c), 0.0, 0)) return 1;
    *result = 0;
    return 0;
}
static __attribute__((noinline)) int32_t x_comp(FAST_PARAMS) { return !core_comp(item(a), 0, b, result); }
static __attribute__((noinline)) int32_t x_length(FAST_PARAMS) { return !core_comp(item(a), 1, 0, result); }
static __attribute__((noinline)) int32_t x_unbox_obj(FAST_PARAMS) { return !core_unbox(a, TY_OBJ, result); }
static __attribute__((noinline)) int32_t x_unbox_float(FAST_PARAMS) { return !core_unbox(a, TY_FLOAT, result); }
static __attribute__((noinline)) int32_t x_unbox_int(FAST_PARAMS) { return !core_unbox(a, TY_INT, result); }
static __attribute__((noinline)) int32_t x_box_float(FAST_PARAMS) { return !core_box_float(bits_f64(a), result); }
static const fast_fn fast_fns[FAST_N] = {
    x_get_float, x_get_int, x_get_obj, x_get_value, x_get_str, x_set_float, x_set_handle, x_comp, x_length,
    x_unbox_obj, x_unbox_float, x_unbox_int, x_box_float};

static __attribute__((noinline, cold)) int32_t fast_at_yield(int32_t op, FAST_PARAMS)
{
    maybe_yield();
    return fast_fns[op](a, b, c, result);
}

int32_t rps_heapfast_fast(int32_t op, int64_t a, int64_t b, int64_t c, int64_t *result)
{
    PyThreadState *mine = this_tstate;
    if (__builtin_expect(!mine || current_tstate() != mine || !rpsobject || (uint32_t)op >= FAST_N, 0)) return 1;
    if (__builtin_expect(++yield_count % YIELD_EVERY == 0, 0)) return fast_at_yield(op, a, b, c, result);
    return fast_fns[op](a, b, c, result);
}

/* ---------------------------------------------------------------- the module (rpsrt.heaphost) */

static PyObject *hf_setup(PyObject *self, PyObject *args)
{
    PyObject *type, *cinfo, *clos, *clock, *ents, *codes;
    unsigned long long slow;
    if (!PyArg_ParseTuple(args, "OOOOOKO!", &type, &cinfo, &clos, &clock, &ents, &slow, &PyTuple_Type, &codes))
        return NULL;
    if (!PyType_Check(type) || !PyType_Check(cinfo) || !PyType_Check(clos) || PyTuple_GET_SIZE(codes) != 9) {
        PyErr_SetString(PyExc_TypeError, "setup: bad arguments");
        return NULL;
    }
    if (!s_attrs) s_attrs = PyUnicode_InternFromString("attrs");
    PyObject *iv = PySys_GetObject("getswitchinterval");   /* borrowed */
    PyObject *ivv = iv ? PyObject_CallNoArgs(iv) : NULL;
    if (ivv && PyFloat_Check(ivv)) yield_ns = (int64_t)(PyFloat_AS_DOUBLE(ivv) * 1e9);
    Py_XDECREF(ivv);
    PyErr_Clear();
    set(&rpsobject, type); set(&classinfo, cinfo); set(&closure, clos);
    off_attrs = member_offset(type, "attrs"); off_comps = member_offset(type, "comps");
    off_cls = member_offset(type, "cls"); off_payload = member_offset(type, "payload");
    off_mtime = member_offset(type, "mtime");
    off_methodict = member_offset(cinfo, "methodict"); off_superclass = member_offset(cinfo, "superclass");
    off_fn = member_offset(clos, "fn");
    set(&clock_value, clock == Py_None ? NULL : clock);
    set(&entries, ents == Py_None ? NULL : ents);
    slow_entry = (heap_op_fn)(uintptr_t)slow;
    static const int32_t want[9] = {OP_GET_ATTR, OP_SET_ATTR, OP_COMP, OP_UNBOX, OP_BOX_FLOAT, OP_SEND, OP_LENGTH,
                                    OP_OBJREF, OP_METHOD_ENTRY};
    for (int i = 0; i < 9; i++) {
        long c = PyLong_AsLong(PyTuple_GET_ITEM(codes, i));
        if (c == -1 && PyErr_Occurred()) return NULL;
        if (c != want[i]) {
            PyErr_Format(PyExc_ValueError, "setup: operation %d has code %ld here, %ld in rpsrt.abi", i,
                         (long)want[i], c);
            return NULL;
        }
    }
    PyObject *probe = PyObject_CallNoArgs((PyObject *)&PyBaseObject_Type);
    if (!probe) return NULL;
    Py_hash_t h = PyObject_Hash(probe);
    known_hash = h != -1 && h == pointer_hash(probe);
    Py_DECREF(probe);
    PyErr_Clear();
    for (int i = 0; i < SITES; i++) {
        site_key[i] = NULL; Py_CLEAR(site_obj[i]);
        entry_sig[i] = NULL; Py_CLEAR(entry_fn[i]);
    }
    Py_RETURN_NONE;
}

static PyObject *hf_handle(PyObject *self, PyObject *v)
{
    int64_t h;
    if (handle_of(v, &h) < 0) return PyErr_NoMemory();
    return PyLong_FromLongLong(h);
}

static PyObject *hf_value(PyObject *self, PyObject *arg)
{
    long long h = PyLong_AsLongLong(arg);
    if (h == -1 && PyErr_Occurred()) return NULL;
    if (h == 0) Py_RETURN_NONE;
    if (!arena_has((uintptr_t)h)) {
        PyErr_Format(PyExc_KeyError, "no such handle in this call: %lld", h);
        return NULL;
    }
    PyObject *o = (PyObject *)(uintptr_t)h;
    Py_INCREF(o);
    return o;
}

static PyObject *hf_arm(PyObject *self, PyObject *arg)
{
    unsigned long long a = PyLong_AsUnsignedLongLong(arg);
    if (PyErr_Occurred()) return NULL;
    if (armed_n >= ARMED_MAX) { PyErr_SetString(PyExc_RuntimeError, "too many nested heap calls armed"); return NULL; }
    armed[armed_n] = (volatile int32_t *)(uintptr_t)a;
    armed_n = armed_n + 1;
    ensure_handler();
    Py_RETURN_NONE;
}

static PyObject *hf_disarm(PyObject *self, PyObject *unused)
{
    if (armed_n > 0) { armed_n = armed_n - 1; armed[armed_n] = NULL; }
    Py_RETURN_NONE;
}

static PyObject *hf_reset(PyObject *self, PyObject *unused) { arena_reset(); Py_RETURN_NONE; }
static PyObject *hf_live(PyObject *self, PyObject *unused) { return PyLong_FromSsize_t(arena_n); }
static PyObject *hf_stack_low(PyObject *self, PyObject *unused) { return PyBool_FromLong(rps_heapfast_stack_low()); }
static PyObject *hf_op_address(PyObject *self, PyObject *unused) { return PyLong_FromVoidPtr((void *)rps_heapfast_op); }
static PyObject *hf_fast_address(PyObject *self, PyObject *unused) { return PyLong_FromVoidPtr((void *)rps_heapfast_fast); }
static PyObject *hf_fast_ops(PyObject *self, PyObject *unused)
{
    PyObject *t = PyTuple_New(FAST_N);
    for (int i = 0; t && i < FAST_N; i++) {
        PyObject *n = PyUnicode_FromString(fast_names[i]);
        if (!n) { Py_CLEAR(t); break; }
        PyTuple_SET_ITEM(t, i, n);
    }
    return t;
}

static PyMethodDef methods[] = {
    {"setup", hf_setup, METH_VARARGS, "setup(RpsObject, PayloadClassInfo, VClosure, clock, entries, slow, codes)"},
    {"handle", hf_handle, METH_O, "handle(value) -> the value's handle (kept alive until reset)"},
    {"value", hf_value, METH_O, "value(handle) -> its value; KeyError when not a handle of this call"},
    {"arm", hf_arm, METH_O, "arm(address): SIGINT sets the int32 flag at address (until disarm)"},
    {"disarm", hf_disarm, METH_NOARGS, "disarm(): undo the last arm"},
    {"reset", hf_reset, METH_NOARGS, "reset(): empty the handle arena (after the outermost call)"},
    {"live", hf_live, METH_NOARGS, "live() -> how many values the arena holds"},
    {"stack_low", hf_stack_low, METH_NOARGS, "stack_low() -> whether this thread's stack is nearly used up"},
    {"op_address", hf_op_address, METH_NOARGS, "op_address() -> the address of rps_heapfast_op"},
    {"fast_address", hf_fast_address, METH_NOARGS, "fast_address() -> the address of rps_heapfast_fast"},
    {"fast_ops", hf_fast_ops, METH_NOARGS, "fast_ops() -> the names of heap_fast's operations, by code"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_rpsrt_heapfast", NULL, -1, methods,
                                    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__rpsrt_heapfast(void) { return PyModule_Create(&module); }
