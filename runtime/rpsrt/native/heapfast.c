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
#include <stdint.h>
#include <string.h>

typedef int32_t (*heap_op_fn)(int32_t, const char *, int64_t *, int32_t, const int64_t *, const char *,
                              const char *);

static heap_op_fn slow_entry;
static PyObject *handles, *objects, *rpsobject, *heap_objects, *clock_value, *entries;
static PyObject *s_attrs, *s_comps, *s_cls, *s_payload, *s_methodict, *s_superclass, *s_fn, *s_mtime, *s_oid;
/* RpsObject's slot descriptors of attrs, comps, cls, payload: reading through them never runs a hook */
static PyObject *d_attrs, *d_comps, *d_cls, *d_payload;
static int32_t op_get_attr = -1, op_set_attr = -1, op_comp = -1, op_unbox = -1, op_box_float = -1,
               op_send = -1, op_length = -1, op_objref = -1, op_method_entry = -1;

#define SITES 1024
static const char *site_key[SITES];
static PyObject *site_obj[SITES];

static void set(PyObject **slot, PyObject *v) { Py_XINCREF(v); Py_XDECREF(*slot); *slot = v; }

/* Called (GIL held) whenever the host changes: its handle table, its object->handle dict, the RpsObject
 * type, the heap's OID->object dict, the fixed clock (None: wall clock, the slow path), its dict of the
 * native entries of function objects (id -> (address, signature bytes), filled by the Python entry), the
 * Python entry, and the codes of the operations done here. */
int rps_heapfast_setup(PyObject *h, PyObject *o, PyObject *type, PyObject *heapobjs, PyObject *clock,
                       PyObject *ents, void *slow, const int32_t *codes)
{
    if (!s_attrs) {
        s_attrs = PyUnicode_InternFromString("attrs"); s_comps = PyUnicode_InternFromString("comps");
        s_cls = PyUnicode_InternFromString("cls"); s_payload = PyUnicode_InternFromString("payload");
        s_methodict = PyUnicode_InternFromString("methodict");
        s_superclass = PyUnicode_InternFromString("superclass"); s_fn = PyUnicode_InternFromString("fn");
        s_mtime = PyUnicode_InternFromString("mtime"); s_oid = PyUnicode_InternFromString("oid");
    }
    set(&handles, h == Py_None ? NULL : h);
    set(&objects, o == Py_None ? NULL : o);
    set(&rpsobject, type);
    PyObject *td = ((PyTypeObject *)type)->tp_dict;
    set(&d_attrs, PyDict_GetItem(td, s_attrs)); set(&d_comps, PyDict_GetItem(td, s_comps));
    set(&d_cls, PyDict_GetItem(td, s_cls)); set(&d_payload, PyDict_GetItem(td, s_payload));
    set(&heap_objects, heapobjs == Py_None ? NULL : heapobjs);
    set(&clock_value, clock == Py_None ? NULL : clock);
    set(&entries, ents == Py_None ? NULL : ents);
    slow_entry = (heap_op_fn)slow;
    op_get_attr = codes[0]; op_set_attr = codes[1]; op_comp = codes[2]; op_unbox = codes[3];
    op_box_float = codes[4]; op_send = codes[5]; op_length = codes[6]; op_objref = codes[7];
    op_method_entry = codes[8];
    for (int i = 0; i < SITES; i++) { site_key[i] = NULL; Py_CLEAR(site_obj[i]); }
    return 0;
}

/* An object of the heap: an RpsObject, clean (its subclass CleanObject) or dirty. */
static int is_obj(PyObject *v) { return PyObject_TypeCheck(v, (PyTypeObject *)rpsobject); }

/* A field read through RpsObject's slot descriptor `d` (new reference; NULL with an error when unset). */
static PyObject *field(PyObject *o, PyObject *d)
{
    if (!d || !Py_TYPE(d)->tp_descr_get) { PyErr_SetString(PyExc_AttributeError, "no slot"); return NULL; }
    return Py_TYPE(d)->tp_descr_get(d, o, rpsobject);
}

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

static PyObject *item(int64_t h)   /* borrowed; NULL when out of the table */
{
    if (h < 0 || h >= PyList_GET_SIZE(handles)) return NULL;
    return PyList_GET_ITEM(handles, h);
}

static int handle_of(PyObject *v, int64_t *out)   /* 0 ok, -1 error (cleared) */
{
    if (v == Py_None) { *out = 0; return 0; }
    if (is_obj(v)) {
        PyObject *key = PyLong_FromVoidPtr(v);
        if (!key) goto fail;
        PyObject *h = PyDict_GetItemWithError(objects, key);
        if (h) { Py_DECREF(key); *out = PyLong_AsLongLong(h); return 0; }
        if (PyErr_Occurred()) { Py_DECREF(key); goto fail; }
        Py_ssize_t n = PyList_GET_SIZE(handles);
        PyObject *hn = PyLong_FromSsize_t(n);
        int bad = !hn || PyList_Append(handles, v) < 0 || PyDict_SetItem(objects, key, hn) < 0;
        Py_XDECREF(hn); Py_DECREF(key);
        if (bad) goto fail;
        *out = n;
        return 0;
    }
    Py_ssize_t n = PyList_GET_SIZE(handles);
    if (PyList_Append(handles, v) < 0) goto fail;
    *out = n;
    return 0;
fail:
    PyErr_Clear();
    return -1;
}

/* Native sends call each other directly (method_entry), so a deep recursion of sends uses the thread's
 * C stack: below STACK_MARGIN bytes left, method_entry answers nothing here, and the Python entry traps
 * RECURSION at the send instead of letting the next call overflow the stack. */
#define STACK_MARGIN (256 * 1024)
static __thread const char *stack_low;
static __thread int stack_probed;

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

static const char *static_part(const char *aux)
{
    const char *bar = strchr(aux, '|');
    return bar ? bar + 1 : "";
}

/* The typed reading of a value `v` (borrowed) as attribute type `t`: 1 done, 0 not here (slow path). */
static int typed(PyObject *v, const char *t, int64_t *result)
{
    if (!strcmp(t, "float")) {
        if (!PyFloat_CheckExact(v)) return 0;
        double d = PyFloat_AS_DOUBLE(v);
        memcpy(result, &d, sizeof d);
        return 1;
    }
    if (!strcmp(t, "int")) {
        if (!PyLong_CheckExact(v)) return 0;
        int overflow = 0;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (overflow || (x == -1 && PyErr_Occurred())) { PyErr_Clear(); return 0; }
        *result = x;
        return 1;
    }
    if (!strcmp(t, "value") || (!strcmp(t, "str") && PyUnicode_CheckExact(v))
        || (!strcmp(t, "obj") && is_obj(v)))
        return handle_of(v, result) == 0;
    return 0;
}

static int32_t fast(int32_t op, const char *aux, int64_t *result, int32_t nargs, const int64_t *args)
{
    if (!handles || !objects) return -1;
    if (op == op_get_attr && nargs == 2) {
        PyObject *o = item(args[0]), *a = item(args[1]);
        if (!o || !a || !is_obj(o)) return -1;
        PyObject *attrs = field(o, d_attrs);
        if (!attrs) { PyErr_Clear(); return -1; }
        if (!PyDict_Check(attrs)) { Py_DECREF(attrs); return -1; }
        PyObject *v = PyDict_GetItemWithError(attrs, a);
        int ok = v && v != Py_None && typed(v, static_part(aux), result);
        Py_DECREF(attrs);
        PyErr_Clear();
        return ok ? 0 : -1;
    }
    if (op == op_set_attr && nargs == 3 && clock_value) {
        PyObject *o = item(args[0]), *a = item(args[1]), *v = item(args[2]);
        if (!o || !a || !v || v == Py_None || !is_obj(o)) return -1;
        if (make_dirty(o) < 0) { PyErr_Clear(); return -1; }
        PyObject *attrs = field(o, d_attrs);
        if (!attrs) { PyErr_Clear(); return -1; }
        if (!PyDict_Check(attrs)) { Py_DECREF(attrs); return -1; }
        int bad = PyDict_SetItem(attrs, a, v) < 0 || PyObject_SetAttr(o, s_mtime, clock_value) < 0;
        Py_DECREF(attrs);
        if (bad) { PyErr_Clear(); return -1; }
        *result = 0;
        return 0;
    }
    if ((op == op_comp && nargs == 2) || (op == op_length && nargs == 1)) {
        PyObject *o = item(args[0]);
        if (!o || !is_obj(o)) return -1;
        PyObject *comps = field(o, d_comps);
        if (!comps) { PyErr_Clear(); return -1; }
        int32_t r = -1;
        if (PyList_CheckExact(comps)) {
            Py_ssize_t n = PyList_GET_SIZE(comps);
            if (op == op_length) { *result = n; r = 0; }
            else if (args[1] >= 0 && args[1] < n && handle_of(PyList_GET_ITEM(comps, args[1]), result) == 0)
                r = 0;
        }
        Py_DECREF(comps);
        return r;
    }
    if (op == op_unbox && nargs == 1) {
        PyObject *v = item(args[0]);
        if (!v) return -1;
        const char *t = static_part(aux);
        if (!strcmp(t, "obj")) {
            if (v != Py_None && !is_obj(v)) return -1;
            *result = args[0];   /* an object's handle is the same as a value or as an obj */
            return 0;
        }
        if (v == Py_None) return -1;
        return typed(v, t, result) ? 0 : -1;
    }
    if (op == op_box_float && nargs == 1) {
        double d;
        memcpy(&d, &args[0], sizeof d);
        PyObject *f = PyFloat_FromDouble(d);
        if (!f) { PyErr_Clear(); return -1; }
        int r = handle_of(f, result);
        Py_DECREF(f);
        return r == 0 ? 0 : -1;
    }
    if (op == op_send && nargs == 2) {
        PyObject *o = item(args[0]), *sel = item(args[1]);
        if (!o || !sel || !is_obj(o)) return -1;
        PyObject *k = field(o, d_cls);
        for (int depth = 0; k && k != Py_None && depth < 256; depth++) {
            PyObject *pl = is_obj(k) ? field(k, d_payload) : NULL;
            PyObject *md = pl ? PyObject_GetAttr(pl, s_methodict) : NULL;
            PyObject *clo = md && PyDict_CheckExact(md) ? PyDict_GetItemWithError(md, sel) : NULL;
            if (clo) {
                PyObject *f = PyObject_GetAttr(clo, s_fn);
                int ok = f && f != Py_None && handle_of(f, result) == 0;
                Py_XDECREF(f); Py_XDECREF(md); Py_XDECREF(pl); Py_DECREF(k);
                PyErr_Clear();
                return ok ? 0 : -1;
            }
            PyObject *sup = (md && pl) ? PyObject_GetAttr(pl, s_superclass) : NULL;
            Py_XDECREF(md); Py_XDECREF(pl); Py_DECREF(k);
            k = sup;
            if (!k) break;
        }
        Py_XDECREF(k);
        PyErr_Clear();
        return -1;
    }
    if (op == op_method_entry && nargs == 1 && entries) {   /* only what the Python entry answered before */
        if (rps_heapfast_stack_low()) return -1;
        PyObject *f = item(args[0]);
        if (!f) return -1;
        PyObject *key = PyLong_FromVoidPtr(f);
        if (!key) { PyErr_Clear(); return -1; }
        PyObject *e = PyDict_GetItemWithError(entries, key);
        Py_DECREF(key);
        if (!e || !PyTuple_CheckExact(e) || PyTuple_GET_SIZE(e) != 2 || !PyBytes_CheckExact(PyTuple_GET_ITEM(e, 1))
            || strcmp(PyBytes_AS_STRING(PyTuple_GET_ITEM(e, 1)), static_part(aux)) != 0) {
            PyErr_Clear();
            return -1;
        }
        long long a = PyLong_AsLongLong(PyTuple_GET_ITEM(e, 0));
        if (a == -1 && PyErr_Occurred()) { PyErr_Clear(); return -1; }
        *result = a;
        return 0;
    }
    if (op == op_objref && nargs == 0 && heap_objects) {
        uintptr_t i = ((uintptr_t)aux >> 3) % SITES;
        PyObject *o = site_key[i] == aux ? site_obj[i] : NULL;
        if (!o) {
            const char *text = static_part(aux);
            /* resolve through the Python entry once; remember the object for this site */
            (void)text;
            return -1;
        }
        PyObject *oid = PyObject_GetAttr(o, s_oid);
        PyObject *cur = oid ? PyDict_GetItemWithError(heap_objects, oid) : NULL;
        Py_XDECREF(oid);
        PyErr_Clear();
        if (cur != o) return -1;
        return handle_of(o, result) == 0 ? 0 : -1;
    }
    return -1;
}

int32_t rps_heapfast_op(int32_t op, const char *aux, int64_t *result, int32_t nargs, const int64_t *args,
                        const char *function, const char *location)
{
    PyGILState_STATE g = PyGILState_Ensure();
    int32_t r = fast(op, aux, result, nargs, args);
    if (r < 0 && op == op_objref && nargs == 0 && slow_entry) {
        PyGILState_Release(g);
        r = slow_entry(op, aux, result, nargs, args, function, location);
        if (r == 0) {   /* remember the object of this site */
            g = PyGILState_Ensure();
            PyObject *o = item(*result);
            if (o && o != Py_None) {
                uintptr_t i = ((uintptr_t)aux >> 3) % SITES;
                site_key[i] = aux;
                set(&site_obj[i], o);
            }
            PyGILState_Release(g);
        }
        return r;
    }
    PyGILState_Release(g);
    if (r >= 0) return r;
    return slow_entry ? slow_entry(op, aux, result, nargs, args, function, location) : 100;
}
