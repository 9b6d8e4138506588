/* rpsrt's store-loading accelerator (docs/store.md, "How the loader works"): the hot loops of
 * rpsrt.store.reader done in C on the loader's own Python objects.
 *
 *   scan(data)         pass 1's framing of one space file: the `\n//+ob` separators and every start line's
 *                      object id decoded and checked (the checks of Oid.parse); None when any start line is
 *                      not plainly right, and the Python path then frames the file and says what is wrong.
 *   create(...)        one object per id (an RpsObject, or a ghost for a lazy load), entered in the
 *                      text -> object table and in the heap's oid -> object dict.
 *   fill(...)          pass 2: each object's JSON text parsed with orjson (the framing scan done here), then
 *                      oid, mtime, class, attributes, components, flags and the symbol and classinfo
 *                      payloads checked and set. Any object this code is not sure of (a value or a member
 *                      it does not know, anything that may be an error) goes, untouched, to the Python path
 *                      (`slow(index, obj)`), which has the one semantics and every error message.
 *
 * Built by rpsrt.native.loadfast on first use with the system's cc; without a compiler the Python path does
 * everything. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <structmember.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <errno.h>
#include <unistd.h>

static PyObject *Oid_type, *Obj_type, *Symbol_type, *ClassInfo_type, *Closure_type, *Set_type;
static PyObject *loaders, *ld_symbol, *ld_classinfo, *ld_space, *Space_type;
static PyObject *s_oid, *s_mtime, *s_class, *s_attrs, *s_comps, *s_payload, *s_magicattr, *s_applying,
    *s_at, *s_va, *s_cls, *s_space, *s_jar, *s_symb_name, *s_symb_val, *s_symb_weak, *s_class_super,
    *s_class_methodict, *s_class_symb, *s_class_name, *s_class_attrset, *s_methosel, *s_methclos,
    *s_methodict, *s_symb, *s_name, *s_attrset, *s_vtype, *s_string, *s_str, *s_closure, *s_set, *s_fn,
    *s_env, *s_metaobj, *s_metarank, *s_elem;

#define ID_LEN 19
#define MAX_VALUE_DEPTH 32

static signed char digit_of[256];

static const char ALPHABET[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
static const uint64_t MIN_HI = 238328ULL;           /* 62**3 */
static const uint64_t MIN_LO = 3844ULL;             /* 62**2 */

static PyObject *intern(const char *s) { return PyUnicode_InternFromString(s); }

/* Where RpsObject keeps each field (its slots), when the class is exactly the one this file knows (the
 * slots below, object's __setattr__): objects are then made by writing their slots, as __init__ and ghost()
 * do; otherwise (offsets unknown) by calling RpsObject(oid) and setting a ghost's fields with setattr. */
enum { F_OID, F_CLS, F_MTIME, F_ATTRS, F_COMPS, F_PAYLOAD, F_SPACE, F_MAGICATTR, F_APPLYING, F_EXTRA, F_JAR,
       F_BORN, F_V, N_FIELDS };
static const char *const FIELD_NAMES[N_FIELDS] = {"oid", "cls", "mtime", "attrs", "comps", "payload", "space",
                                                   "magicattr", "applying", "extra", "_jar", "_born", "_v"};
static Py_ssize_t field_off[N_FIELDS];
static int plain_objects;
static PyObject *zero_float;

#define FIELD(o, f) (*(PyObject **)((char *)(o) + field_off[f]))

/* obj.<field> = v: written into the slot when the class is plain, else by setattr. */
static int set_field(PyObject *obj, int f, PyObject *name, PyObject *v)
{
    if (!plain_objects) return PyObject_SetAttr(obj, name, v);
    PyObject *old = FIELD(obj, f);
    Py_INCREF(v);
    FIELD(obj, f) = v;
    Py_XDECREF(old);
    return 0;
}

static int find_fields(PyTypeObject *t)
{
    for (int f = 0; f < N_FIELDS; f++) {
        PyObject *d = PyDict_GetItemString(t->tp_dict, FIELD_NAMES[f]);
        if (!d || !Py_IS_TYPE(d, &PyMemberDescr_Type)) return 0;
        PyMemberDef *m = ((PyMemberDescrObject *)d)->d_member;
        if (m->type != T_OBJECT_EX || (m->flags & READONLY)) return 0;
        field_off[f] = m->offset;
    }
    return 1;
}

static PyObject *lf_setup(PyObject *self, PyObject *args)
{
    (void)self;
    int plain;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOOp", &Oid_type, &Obj_type, &Symbol_type, &ClassInfo_type,
                          &Closure_type, &Set_type, &loaders, &ld_symbol, &ld_classinfo, &Space_type, &ld_space,
                          &plain))
        return NULL;
    if (!PyType_Check(Oid_type) || !PyType_IsSubtype((PyTypeObject *)Oid_type, &PyTuple_Type)
        || !PyType_Check(Obj_type) || !PyDict_Check(loaders)) {
        PyErr_SetString(PyExc_TypeError, "loadfast.setup: unexpected types");
        return NULL;
    }
    Py_INCREF(Oid_type); Py_INCREF(Obj_type); Py_INCREF(Symbol_type); Py_INCREF(ClassInfo_type);
    Py_INCREF(Closure_type); Py_INCREF(Set_type); Py_INCREF(loaders); Py_INCREF(ld_symbol);
    Py_INCREF(ld_classinfo); Py_INCREF(Space_type); Py_INCREF(ld_space);
    plain_objects = plain && find_fields((PyTypeObject *)Obj_type);
    if (!zero_float && !(zero_float = PyFloat_FromDouble(0.0))) return NULL;
    return PyBool_FromLong(plain_objects);
}

/* -- the id table ------------------------------------------------------------------------------------------- */

/* The loader's OID text -> object table (reader._Loader.by_text on this path): an open-addressing hash table
 * on the ids' two numbers, so that a lookup decodes the 19 bytes and probes once, without hashing a string or
 * comparing one. It references the objects without owning them: they are owned by the loader's space files
 * (`_Space.objects`), which live as long as the loader that holds this table. */
typedef struct { uint64_t hi, lo; PyObject *obj; } slot_t;
typedef struct { PyObject_HEAD slot_t *slots; size_t mask; Py_ssize_t used; } IdTable;

static PyTypeObject IdTable_Type;

static size_t slot_of(uint64_t hi, uint64_t lo, size_t mask)
{
    uint64_t h = hi ^ (lo * 0x9E3779B97F4A7C15ULL);  /* splitmix64's finalizer */
    h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ULL;
    h = (h ^ (h >> 27)) * 0x94D049BB133111EBULL;
    return (size_t)(h ^ (h >> 31)) & mask;
}

static PyObject *table_find(IdTable *t, uint64_t hi, uint64_t lo)
{
    if (!t->slots) return NULL;
    for (size_t k = slot_of(hi, lo, t->mask);; k = (k + 1) & t->mask) {
        slot_t *s = &t->slots[k];
        if (!s->obj) return NULL;
        if (s->hi == hi && s->lo == lo) return s->obj;
    }
}

/* Zeroed room for n slots; a big table is aligned on 2 MB and asks for huge pages (it is probed at random:
 * with 4 kB pages nearly every probe of a table of a million ids also misses the TLB). */
static slot_t *slots_alloc(size_t n)
{
    size_t bytes = n * sizeof(slot_t), huge = (size_t)2 << 20;
    void *p = NULL;
    if (bytes >= huge) {
        bytes = (bytes + huge - 1) & ~(huge - 1);
        if (posix_memalign(&p, huge, bytes) != 0) return NULL;
#ifdef MADV_HUGEPAGE
        (void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
    } else if (!(p = malloc(bytes))) {
        return NULL;
    }
    memset(p, 0, bytes);
    return p;
}

static int table_reserve(IdTable *t, Py_ssize_t more)
{
    size_t need = (size_t)(t->used + more) * 2, cap = t->slots ? t->mask + 1 : 0;
    if (need <= cap) return 0;
    size_t ncap = 1024;
    while (ncap < need) ncap *= 2;
    slot_t *ns = slots_alloc(ncap);
    if (!ns) { PyErr_NoMemory(); return -1; }
    for (size_t k = 0; k < cap; k++) {
        slot_t *s = &t->slots[k];
        if (!s->obj) continue;
        size_t j = slot_of(s->hi, s->lo, ncap - 1);
        while (ns[j].obj) j = (j + 1) & (ncap - 1);
        ns[j] = *s;
    }
    free(t->slots);
    t->slots = ns;
    t->mask = ncap - 1;
    return 0;
}

/* 1 entered, 0 already there (a duplicate id: the first stays). The table has room (table_reserve). */
static int table_add(IdTable *t, uint64_t hi, uint64_t lo, PyObject *obj)
{
    for (size_t k = slot_of(hi, lo, t->mask);; k = (k + 1) & t->mask) {
        slot_t *s = &t->slots[k];
        if (!s->obj) { s->hi = hi; s->lo = lo; s->obj = obj; t->used++; return 1; }
        if (s->hi == hi && s->lo == lo) return 0;
    }
}

static int parse_id(const unsigned char *p, uint64_t *hi_out, uint64_t *lo_out);

/* The object of an id text (borrowed), or NULL (not a valid id text, or unknown). */
static PyObject *table_get(IdTable *t, PyObject *text)
{
    uint64_t hi, lo;
    if (!PyUnicode_CheckExact(text) || !PyUnicode_IS_COMPACT_ASCII(text) || PyUnicode_GET_LENGTH(text) != 19
        || !parse_id(PyUnicode_1BYTE_DATA(text), &hi, &lo))
        return NULL;
    return table_find(t, hi, lo);
}

static PyObject *IdTable_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    (void)args; (void)kw;
    IdTable *t = (IdTable *)type->tp_alloc(type, 0);
    if (t) { t->slots = NULL; t->mask = 0; t->used = 0; }
    return (PyObject *)t;
}

static void IdTable_dealloc(IdTable *t)
{
    free(t->slots);
    Py_TYPE(t)->tp_free((PyObject *)t);
}

static Py_ssize_t IdTable_len(IdTable *t) { return t->used; }

static PyObject *IdTable_subscript(IdTable *t, PyObject *key)
{
    PyObject *o = table_get(t, key);
    if (!o) { PyErr_SetObject(PyExc_KeyError, key); return NULL; }
    Py_INCREF(o);
    return o;
}

static PyObject *IdTable_get(IdTable *t, PyObject *const *args, Py_ssize_t n)
{
    if (n < 1 || n > 2) { PyErr_SetString(PyExc_TypeError, "get(key, default=None)"); return NULL; }
    PyObject *o = table_get(t, args[0]);
    if (!o) o = n == 2 ? args[1] : Py_None;
    Py_INCREF(o);
    return o;
}

static int IdTable_contains(IdTable *t, PyObject *key) { return table_get(t, key) != NULL; }

/* update(pairs): enter each (text, obj), as dict.update (the Python path's framing; the texts are valid ids,
 * and the objects are owned by the caller's space file). */
static PyObject *IdTable_update(IdTable *t, PyObject *pairs)
{
    PyObject *it = PyObject_GetIter(pairs), *item;
    if (!it) return NULL;
    while ((item = PyIter_Next(it))) {
        uint64_t hi, lo;
        PyObject *text = PyTuple_Check(item) && PyTuple_GET_SIZE(item) == 2 ? PyTuple_GET_ITEM(item, 0) : NULL;
        if (!text || !PyUnicode_CheckExact(text) || !PyUnicode_IS_COMPACT_ASCII(text)
            || PyUnicode_GET_LENGTH(text) != ID_LEN || !parse_id(PyUnicode_1BYTE_DATA(text), &hi, &lo)) {
            Py_DECREF(item);
            Py_DECREF(it);
            PyErr_SetString(PyExc_ValueError, "IdTable.update: not an (object id text, object) pair");
            return NULL;
        }
        if (table_reserve(t, 1) < 0) { Py_DECREF(item); Py_DECREF(it); return NULL; }
        for (size_t k = slot_of(hi, lo, t->mask);; k = (k + 1) & t->mask) {  /* the last one wins, as dict's */
            slot_t *s = &t->slots[k];
            if (!s->obj) { s->hi = hi; s->lo = lo; t->used++; }
            else if (s->hi != hi || s->lo != lo) continue;
            s->obj = PyTuple_GET_ITEM(item, 1);
            break;
        }
        Py_DECREF(item);
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef IdTable_methods[] = {
    {"get", (PyCFunction)(void (*)(void))IdTable_get, METH_FASTCALL, "get(text, default=None): the object or default"},
    {"update", (PyCFunction)IdTable_update, METH_O, "update(pairs): enter each (text, object)"},
    {NULL, NULL, 0, NULL},
};
static PyMappingMethods IdTable_mapping = {(lenfunc)IdTable_len, (binaryfunc)IdTable_subscript, NULL};
static PySequenceMethods IdTable_sequence = {.sq_contains = (objobjproc)IdTable_contains};

static PyTypeObject IdTable_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_rpsrt_loadfast.IdTable",
    .tp_doc = "OID text -> object, for one load (get, [], in, len); does not own the objects",
    .tp_basicsize = sizeof(IdTable),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = IdTable_new,
    .tp_dealloc = (destructor)IdTable_dealloc,
    .tp_as_mapping = &IdTable_mapping,
    .tp_as_sequence = &IdTable_sequence,
    .tp_methods = IdTable_methods,
};

/* -- pass 1 ------------------------------------------------------------------------------------------------ */

static const char SEP[] = "\n//+ob";
#define SEP_LEN 6

/* The id at p (19 bytes): 1 and its numbers when it is valid as Oid.parse has it, else 0. */
static int parse_id(const unsigned char *p, uint64_t *hi_out, uint64_t *lo_out)
{
    if (p[0] != '_' || p[1] < '0' || p[1] > '9') return 0;
    uint64_t hi = 0, lo = 0;
    for (int k = 1; k <= 11; k++) {
        int d = digit_of[p[k]];
        if (d < 0) return 0;
        hi = hi * 62 + (uint64_t)d;
    }
    for (int k = 12; k < ID_LEN; k++) {
        int d = digit_of[p[k]];
        if (d < 0) return 0;
        lo = lo * 62 + (uint64_t)d;
    }
    if (hi < MIN_HI || lo < MIN_LO) return 0;
    uint64_t h = ((hi % 2147473837ULL) + ((hi >> 32) ^ (lo * 17 + 201151ULL))) & 0xFFFFFFFFULL;
    if (!h) return 0;
    *hi_out = hi;
    *lo_out = lo;
    return 1;
}

/* scan(data) -> (starts, ends, ids, sorted) or None.
 * starts and ends: int64 offsets (native order) of every chunk as data.split(b"\n//+ob") cuts the file
 * (chunk 0 the head); ids: two uint64 (hi, lo) per object; sorted: whether the ids strictly increase. */
static PyObject *lf_scan(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer buf;
    if (!PyArg_ParseTuple(args, "y*", &buf)) return NULL;
    const unsigned char *data = buf.buf;
    Py_ssize_t len = buf.len, cap = 1024, n = 0;
    int64_t *seps = PyMem_Malloc(cap * sizeof(int64_t));
    PyObject *out = NULL;
    if (!seps) { PyBuffer_Release(&buf); return PyErr_NoMemory(); }
    const unsigned char *p = data, *end = data + len;
    while (p + SEP_LEN <= end) {  /* find the `+` of each `\n//+ob` (memchr is much quicker than memmem) */
        const unsigned char *plus = memchr(p + 3, '+', (size_t)(end - p - 3));
        if (!plus || plus + 3 > end) break;
        const unsigned char *q = plus - 3;
        if (memcmp(q, SEP, SEP_LEN) != 0) { p = plus - 2; continue; }
        if (n == cap) {
            cap *= 2;
            int64_t *m = PyMem_Realloc(seps, cap * sizeof(int64_t));
            if (!m) { PyErr_NoMemory(); goto done; }
            seps = m;
        }
        seps[n++] = q - data;
        p = q + SEP_LEN;
    }
    PyObject *starts = PyBytes_FromStringAndSize(NULL, (n + 1) * sizeof(int64_t));
    PyObject *ends = PyBytes_FromStringAndSize(NULL, (n + 1) * sizeof(int64_t));
    PyObject *ids = PyBytes_FromStringAndSize(NULL, (n ? n : 1) * 2 * sizeof(uint64_t));
    if (!starts || !ends || !ids) { Py_XDECREF(starts); Py_XDECREF(ends); Py_XDECREF(ids); goto done; }
    int64_t *st = (int64_t *)PyBytes_AS_STRING(starts), *en = (int64_t *)PyBytes_AS_STRING(ends);
    uint64_t *id = (uint64_t *)PyBytes_AS_STRING(ids);
    int sorted = 1;
    if (!n) memset(id, 0, 2 * sizeof(uint64_t));   /* (no id: its one slot is zero, not whatever was there) */
    st[0] = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t s = seps[i] + SEP_LEN;
        st[i + 1] = s;
        en[i] = seps[i];
        /* A start line's id must be whole, valid, and not run on (a 20th alphanumeric byte). */
        if (s + ID_LEN > len || !parse_id(data + s, &id[2 * i], &id[2 * i + 1])
            || (s + ID_LEN < len && digit_of[data[s + ID_LEN]] >= 0)) {
            Py_DECREF(starts); Py_DECREF(ends); Py_DECREF(ids);
            out = Py_None;
            Py_INCREF(out);
            goto done;
        }
        if (i && (id[2 * i] < id[2 * i - 2] || (id[2 * i] == id[2 * i - 2] && id[2 * i + 1] <= id[2 * i - 1])))
            sorted = 0;
    }
    en[n] = len;
    out = Py_BuildValue("(NNNO)", starts, ends, ids, sorted ? Py_True : Py_False);
done:
    PyMem_Free(seps);
    PyBuffer_Release(&buf);
    return out;
}

/* The Oid of chunk i + 1's start line (ids: its numbers, data + starts[i + 1]: its text), a new reference. */
static PyObject *make_oid(const char *data, const int64_t *st, const uint64_t *id, Py_ssize_t i)
{
    PyTypeObject *otype = (PyTypeObject *)Oid_type;
    PyObject *text = PyUnicode_New(ID_LEN, 127);
    if (!text) return NULL;
    memcpy(PyUnicode_1BYTE_DATA(text), data + st[i + 1], ID_LEN);
    PyObject *hi = PyLong_FromUnsignedLongLong(id[2 * i]);
    PyObject *lo = PyLong_FromUnsignedLongLong(id[2 * i + 1]);
    PyObject *oid = hi && lo ? otype->tp_alloc(otype, 3) : NULL;
    if (!oid) { Py_XDECREF(hi); Py_XDECREF(lo); Py_DECREF(text); return NULL; }
    PyTuple_SET_ITEM(oid, 0, hi);
    PyTuple_SET_ITEM(oid, 1, lo);
    PyTuple_SET_ITEM(oid, 2, text);
    return oid;
}

/* A lazy load's ghost -> chunk table of one space file (the `ptrs` bytes create returns): open addressing on
 * the ghost's address, each slot the address and the ghost's index in the file's object list. A ghost of the
 * plain class is made without its Oid (its `oid` slot unset, four objects fewer per ghost): its first read
 * of `oid` (RpsObject.__getattr__) asks its jar, which finds the index here and makes it (`ghost_oid`). */
typedef struct { uintptr_t ptr; int64_t index; } pslot_t;

static size_t pslot_of(uintptr_t ptr, size_t mask)
{
    uint64_t h = (uint64_t)ptr * 0x9E3779B97F4A7C15ULL;
    return (size_t)(h >> 24) & mask;
}

static Py_ssize_t ptrs_find(const pslot_t *t, size_t mask, PyObject *obj)
{
    for (size_t k = pslot_of((uintptr_t)obj, mask);; k = (k + 1) & mask) {
        if (!t[k].ptr) return -1;
        if (t[k].ptr == (uintptr_t)obj) return (Py_ssize_t)t[k].index;
    }
}

/* create(data, starts, ids, jar, table, heap_objects) -> (objects, ptrs): the objects, in file order, each
 * entered in the id table (a duplicate id keeps the first: the caller sees it by the table's length) and in
 * the heap's dict heap_objects (None: in no dict; a lazy load makes heap.objects when it is first read).
 * jar None: RpsObject(oid) each; else a ghost as RpsObject.ghost(oid, jar) makes it, and when the class is
 * plain without its Oid, ptrs then being their ghost -> index table (else None). */
static PyObject *lf_create(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer dbuf, sbuf, ibuf;
    PyObject *jar, *heap_objects;
    IdTable *table;
    if (!PyArg_ParseTuple(args, "y*y*y*OO!O", &dbuf, &sbuf, &ibuf, &jar, &IdTable_Type, &table, &heap_objects))
        return NULL;
    if (heap_objects == Py_None) heap_objects = NULL;
    else if (!PyDict_Check(heap_objects)) {
        PyBuffer_Release(&dbuf); PyBuffer_Release(&sbuf); PyBuffer_Release(&ibuf);
        PyErr_SetString(PyExc_TypeError, "loadfast.create: heap_objects is not a dict");
        return NULL;
    }
    const char *data = dbuf.buf;
    const int64_t *st = sbuf.buf;
    const uint64_t *id = ibuf.buf;
    Py_ssize_t n = sbuf.len / (Py_ssize_t)sizeof(int64_t) - 1;
    /* the dump epoch an object is made in (`_born`, rpsrt.model.objects.EPOCH, as __init__ and ghost() set) */
    PyObject *objects_mod = PyImport_ImportModule("rpsrt.model.objects");
    PyObject *epoch = objects_mod ? PyObject_GetAttrString(objects_mod, "EPOCH") : NULL;
    Py_XDECREF(objects_mod);
    PyObject *zero = PyLong_FromLong(0);
    PyObject *list = PyList_New(n), *ptrs = NULL;
    if (!epoch || !zero || !list || table_reserve(table, n) < 0) goto fail;
    PyTypeObject *objtype = (PyTypeObject *)Obj_type;
    int lazy_oid = plain_objects && jar != Py_None && heap_objects == NULL;
    pslot_t *pt = NULL;
    size_t pmask = 0;
    if (lazy_oid) {
        size_t cap = 16;
        while (cap < (size_t)n * 2) cap *= 2;
        if (!(ptrs = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(cap * sizeof(pslot_t))))) goto fail;
        pt = (pslot_t *)PyBytes_AS_STRING(ptrs);
        memset(pt, 0, cap * sizeof(pslot_t));
        pmask = cap - 1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *oid = NULL, *obj;
        if (!lazy_oid && !(oid = make_oid(data, st, id, i))) goto fail;
        if (plain_objects) {  /* the slots RpsObject(oid) or RpsObject.ghost(oid, jar) sets */
            obj = objtype->tp_alloc(objtype, 0);
            if (obj) {
                if (oid) { Py_INCREF(oid); FIELD(obj, F_OID) = oid; }
                Py_INCREF(Py_None); FIELD(obj, F_SPACE) = Py_None;
                Py_INCREF(jar); FIELD(obj, F_JAR) = jar;
                Py_INCREF(epoch); FIELD(obj, F_BORN) = epoch;
                Py_INCREF(zero); FIELD(obj, F_V) = zero;
                if (jar == Py_None) {
                    PyObject *attrs = PyDict_New(), *comps = PyList_New(0);
                    if (!attrs || !comps) { Py_XDECREF(attrs); Py_XDECREF(comps); Py_CLEAR(obj); }
                    else {
                        FIELD(obj, F_ATTRS) = attrs;
                        FIELD(obj, F_COMPS) = comps;
                        Py_INCREF(Py_None); FIELD(obj, F_CLS) = Py_None;
                        Py_INCREF(zero_float); FIELD(obj, F_MTIME) = zero_float;
                        Py_INCREF(Py_None); FIELD(obj, F_PAYLOAD) = Py_None;
                        Py_INCREF(Py_False); FIELD(obj, F_MAGICATTR) = Py_False;
                        Py_INCREF(Py_False); FIELD(obj, F_APPLYING) = Py_False;
                        Py_INCREF(Py_None); FIELD(obj, F_EXTRA) = Py_None;
                    }
                }
            }
        } else if (jar == Py_None) {
            obj = PyObject_CallOneArg(Obj_type, oid);
        } else {
            obj = PyObject_CallMethod(Obj_type, "ghost", "OO", oid, jar);
        }
        if (!obj) { Py_XDECREF(oid); goto fail; }
        PyList_SET_ITEM(list, i, obj);
        if (i + 16 < n)  /* the table is big and probed at random: fetch a later id's slot meanwhile */
            __builtin_prefetch(&table->slots[slot_of(id[2 * i + 32], id[2 * i + 33], table->mask)], 1);
        table_add(table, id[2 * i], id[2 * i + 1], obj);
        int bad = heap_objects && PyDict_SetItem(heap_objects, oid, obj) < 0;
        Py_XDECREF(oid);
        if (bad) goto fail;
    }
    /* the ghost -> index table, in a pass of its own: its slots are at random, and the later ghosts' are
     * fetched meanwhile (the addresses are known only once all are made) */
    for (Py_ssize_t i = 0; pt && i < n; i++) {
        if (i + 16 < n) __builtin_prefetch(&pt[pslot_of((uintptr_t)PyList_GET_ITEM(list, i + 16), pmask)], 1);
        uintptr_t ptr = (uintptr_t)PyList_GET_ITEM(list, i);
        size_t k = pslot_of(ptr, pmask);
        while (pt[k].ptr) k = (k + 1) & pmask;
        pt[k].ptr = ptr;
        pt[k].index = i;
    }
    Py_DECREF(epoch); Py_DECREF(zero);
    PyBuffer_Release(&dbuf); PyBuffer_Release(&sbuf); PyBuffer_Release(&ibuf);
    if (!ptrs) { ptrs = Py_None; Py_INCREF(ptrs); }
    return Py_BuildValue("(NN)", list, ptrs);
fail:
    Py_XDECREF(epoch); Py_XDECREF(zero);
    Py_XDECREF(list); Py_XDECREF(ptrs);
    PyBuffer_Release(&dbuf); PyBuffer_Release(&sbuf); PyBuffer_Release(&ibuf);
    return NULL;
}

/* ghost_index(ptrs, obj) -> the index of a ghost in its file's object list (-1: not one of them). */
static PyObject *lf_ghost_index(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer pbuf;
    PyObject *obj;
    if (!PyArg_ParseTuple(args, "y*O", &pbuf, &obj)) return NULL;
    Py_ssize_t k = ptrs_find(pbuf.buf, (size_t)(pbuf.len / (Py_ssize_t)sizeof(pslot_t)) - 1, obj);
    PyBuffer_Release(&pbuf);
    return PyLong_FromSsize_t(k);
}

/* obj's `oid` slot, set from chunk index + 1 when unset; the Oid (new reference) or NULL with an error. */
static PyObject *fill_oid(PyObject *obj, const char *data, const int64_t *st, const uint64_t *id,
                          Py_ssize_t index)
{
    PyObject *cur = FIELD(obj, F_OID);
    if (cur) { Py_INCREF(cur); return cur; }
    PyObject *oid = make_oid(data, st, id, index);
    if (!oid) return NULL;
    if ((cur = FIELD(obj, F_OID))) {  /* set meanwhile (the allocations above may have run other code) */
        Py_DECREF(oid);
        Py_INCREF(cur);
        return cur;
    }
    Py_INCREF(oid);
    FIELD(obj, F_OID) = oid;
    return oid;
}

/* ghost_oid(ptrs, obj, data, starts, ids) -> obj's Oid, made from its start line and set in its `oid` slot
 * if it is unset; None when obj is not one of the file's ghosts. */
static PyObject *lf_ghost_oid(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer pbuf, dbuf, sbuf, ibuf;
    PyObject *obj, *out = NULL;
    if (!PyArg_ParseTuple(args, "y*Oy*y*y*", &pbuf, &obj, &dbuf, &sbuf, &ibuf)) return NULL;
    Py_ssize_t k = ptrs_find(pbuf.buf, (size_t)(pbuf.len / (Py_ssize_t)sizeof(pslot_t)) - 1, obj);
    Py_ssize_t n = sbuf.len / (Py_ssize_t)sizeof(int64_t) - 1;
    if (k < 0 || k >= n || !plain_objects || !Py_IS_TYPE(obj, (PyTypeObject *)Obj_type)) {
        out = Py_None;
        Py_INCREF(out);
    } else {
        out = fill_oid(obj, dbuf.buf, sbuf.buf, ibuf.buf, k);
    }
    PyBuffer_Release(&pbuf); PyBuffer_Release(&dbuf); PyBuffer_Release(&sbuf); PyBuffer_Release(&ibuf);
    return out;
}

/* ghost_oids(objects, data, starts, ids): the `oid` slot of every objects[k] still without one set from
 * chunk k + 1 (before heap.objects is made from them). */
static PyObject *lf_ghost_oids(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer dbuf, sbuf, ibuf;
    PyObject *objs, *out = NULL;
    if (!PyArg_ParseTuple(args, "O!y*y*y*", &PyList_Type, &objs, &dbuf, &sbuf, &ibuf)) return NULL;
    Py_ssize_t n = sbuf.len / (Py_ssize_t)sizeof(int64_t) - 1;
    if (PyList_GET_SIZE(objs) != n || !plain_objects) {
        PyErr_SetString(PyExc_ValueError, "loadfast.ghost_oids: not the objects of these chunks");
        goto done;
    }
    for (Py_ssize_t k = 0; k < n; k++) {
        PyObject *o = PyList_GET_ITEM(objs, k);
        if (!Py_IS_TYPE(o, (PyTypeObject *)Obj_type) || FIELD(o, F_OID)) continue;
        PyObject *oid = fill_oid(o, dbuf.buf, sbuf.buf, ibuf.buf, k);
        if (!oid) goto done;
        Py_DECREF(oid);
    }
    out = Py_None;
    Py_INCREF(out);
done:
    PyBuffer_Release(&dbuf); PyBuffer_Release(&sbuf); PyBuffer_Release(&ibuf);
    return out;
}

/* set_all(objects, name, value): setattr(o, name, value) for each o (the space of a file's objects). */
static PyObject *lf_set_all(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *list, *name, *value;
    if (!PyArg_ParseTuple(args, "O!UO", &PyList_Type, &list, &name, &value)) return NULL;
    int slot = plain_objects && PyUnicode_Compare(name, s_space) == 0;  /* the slot itself, as set_field */
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); i++) {
        PyObject *o = PyList_GET_ITEM(list, i);
        if (slot && Py_IS_TYPE(o, (PyTypeObject *)Obj_type)) {
            if (set_field(o, F_SPACE, s_space, value) < 0) return NULL;
        } else if (PyObject_SetAttr(o, name, value) < 0) {
            return NULL;
        }
    }
    Py_RETURN_NONE;
}

/* resolve(table, texts, target) -> -1 when every text names a known object, each then added to the set
 * `target` (the manifest's globalroots, constset, plugins); else the index of the first that does not (the
 * caller then says why, having added those before it). */
static PyObject *lf_resolve(PyObject *self, PyObject *args)
{
    (void)self;
    IdTable *t;
    PyObject *texts, *target;
    if (!PyArg_ParseTuple(args, "O!O!O!", &IdTable_Type, &t, &PyList_Type, &texts, &PySet_Type, &target))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(texts);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i + 16 < n && t->slots) {  /* the table is probed at random: fetch a later text's slot meanwhile */
            PyObject *ahead = PyList_GET_ITEM(texts, i + 16);
            uint64_t hi, lo;
            if (PyUnicode_CheckExact(ahead) && PyUnicode_IS_COMPACT_ASCII(ahead) && PyUnicode_GET_LENGTH(ahead) == ID_LEN
                && parse_id(PyUnicode_1BYTE_DATA(ahead), &hi, &lo))
                __builtin_prefetch(&t->slots[slot_of(hi, lo, t->mask)], 0);
        }
        PyObject *o = table_get(t, PyList_GET_ITEM(texts, i));
        if (!o) return PyLong_FromSsize_t(i);
        if (PySet_Add(target, o) < 0) return NULL;
    }
    return PyLong_FromLong(-1);
}

/* -- pass 2 ------------------------------------------------------------------------------------------------ */

/* Results of the value helpers: 1 done (*out a new reference), 0 not sure (the Python path decides), -1 a
 * Python error (propagated). */
#define UNSURE 0

/* The table of the current fill() of this thread (thread-local: a fill calls back into Python for what it
 * is not sure of, and another thread may run a fill of another load meanwhile). */
static _Thread_local IdTable *by_text;

static const double U64_END = 18446744073709551616.0, I64_MIN = -9223372036854775808.0;

/* An object named by an OID text that is in the table (borrowed), or NULL. */
static PyObject *known(PyObject *text)
{
    return table_get(by_text, text);
}

static int value(PyObject *v, PyObject **out, int depth);

static int values_list(PyObject *list, PyObject **out, int depth)
{
    Py_ssize_t n = PyList_GET_SIZE(list);
    PyObject *r = PyList_New(n);
    if (!r) return -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *x;
        int ok = value(PyList_GET_ITEM(list, i), &x, depth);
        if (ok != 1) { Py_DECREF(r); return ok; }
        PyList_SET_ITEM(r, i, x);
    }
    *out = r;
    return 1;
}

/* An optional object reference (None, or a known OID text): 1 with *out borrowed, else UNSURE. */
static int opt_ref(PyObject *d, PyObject *key, PyObject **out)
{
    PyObject *t = PyDict_GetItemWithError(d, key);
    if (!t) { if (PyErr_Occurred()) return -1; *out = Py_None; return 1; }
    if (t == Py_None) { *out = Py_None; return 1; }
    *out = known(t);
    return *out ? 1 : UNSURE;
}

/* A decoded JSON value as reader._Loader.value gives it, for the cases that cannot be errors. */
static int value(PyObject *v, PyObject **out, int depth)
{
    if (PyUnicode_CheckExact(v)) {
        if (PyUnicode_GET_LENGTH(v) == ID_LEN && PyUnicode_READ_CHAR(v, 0) == '_') {
            PyObject *o = known(v);
            if (!o) return UNSURE;
            v = o;
        }
        Py_INCREF(v);
        *out = v;
        return 1;
    }
    if (PyLong_CheckExact(v)) {
        int overflow;
        (void)PyLong_AsLongLongAndOverflow(v, &overflow);
        if (overflow) return UNSURE;
        Py_INCREF(v);
        *out = v;
        return 1;
    }
    if (v == Py_None) { Py_INCREF(v); *out = v; return 1; }
    if (PyFloat_CheckExact(v)) {
        double x = PyFloat_AS_DOUBLE(v);
        if (!(x < U64_END && x > I64_MIN)) return UNSURE;   /* may be an int beyond 64 bits */
        Py_INCREF(v);
        *out = v;
        return 1;
    }
    if (!PyDict_CheckExact(v) || depth > MAX_VALUE_DEPTH) return UNSURE;
    PyObject *vtype = PyDict_GetItemWithError(v, s_vtype);
    if (!vtype && PyErr_Occurred()) return -1;
    if (!vtype || vtype == Py_None) {
        if (PyDict_GET_SIZE(v) != 1) return UNSURE;
        PyObject *s = PyDict_GetItemWithError(v, s_string);
        if (!s && !PyErr_Occurred()) s = PyDict_GetItemWithError(v, s_str);
        if (!s) return PyErr_Occurred() ? -1 : UNSURE;
        if (!PyUnicode_CheckExact(s)) return UNSURE;
        Py_INCREF(s);
        *out = s;
        return 1;
    }
    if (!PyUnicode_CheckExact(vtype)) return UNSURE;
    if (PyUnicode_Compare(vtype, s_closure) == 0) {
        PyObject *fn_text = PyDict_GetItemWithError(v, s_fn);
        if (!fn_text) return PyErr_Occurred() ? -1 : UNSURE;
        PyObject *fn = known(fn_text);
        if (!fn) return UNSURE;
        PyObject *env = PyDict_GetItemWithError(v, s_env), *rank, *meta, *envv;
        if (!env && PyErr_Occurred()) return -1;
        rank = PyDict_GetItemWithError(v, s_metarank);
        if (!rank && PyErr_Occurred()) return -1;
        if (!rank) rank = Py_None;
        if (rank != Py_None) {
            int overflow;
            if (!PyLong_CheckExact(rank)) return UNSURE;
            (void)PyLong_AsLongLongAndOverflow(rank, &overflow);
            if (overflow) return UNSURE;
        }
        int ok = opt_ref(v, s_metaobj, &meta);
        if (ok != 1) return ok;
        if (!env) envv = PyList_New(0);
        else if (!PyList_CheckExact(env)) return UNSURE;
        else if ((ok = values_list(env, &envv, depth + 1)) != 1) return ok;
        if (!envv) return -1;
        *out = PyObject_CallFunctionObjArgs(Closure_type, fn, envv, meta, rank, NULL);
        Py_DECREF(envv);
        return *out ? 1 : -1;
    }
    if (PyUnicode_Compare(vtype, s_set) == 0) {
        PyObject *elem = PyDict_GetItemWithError(v, s_elem);
        if (!elem && PyErr_Occurred()) return -1;
        Py_ssize_t n = elem ? (PyList_CheckExact(elem) ? PyList_GET_SIZE(elem) : -1) : 0;
        if (n < 0) return UNSURE;
        PyObject *objs = PyList_New(n);
        if (!objs) return -1;
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *o = known(PyList_GET_ITEM(elem, i));
            if (!o) { Py_DECREF(objs); return UNSURE; }
            Py_INCREF(o);
            PyList_SET_ITEM(objs, i, o);
        }
        *out = PyObject_CallOneArg(Set_type, objs);
        Py_DECREF(objs);
        return *out ? 1 : -1;
    }
    return UNSURE;
}

/* d[key] when present (borrowed, *present set), else NULL; -1 on error. */
static int member(PyObject *d, PyObject *key, PyObject **out, Py_ssize_t *used)
{
    *out = PyDict_GetItemWithError(d, key);
    if (*out) { (*used)++; return 1; }
    return PyErr_Occurred() ? -1 : 0;
}

/* The symbol payload as payloads._ld_symbol makes it (today's member names only). */
static int symbol(PyObject *d, PyObject **out, Py_ssize_t *used)
{
    PyObject *name, *v, *weak, *val;
    int r;
    if ((r = member(d, s_symb_name, &name, used)) != 1) return r;
    if (!PyUnicode_CheckExact(name)) return UNSURE;
    if ((r = member(d, s_symb_val, &v, used)) < 0) return -1;
    if ((r = member(d, s_symb_weak, &weak, used)) < 0) return -1;
    if (!weak) weak = Py_False;
    if (weak != Py_True && weak != Py_False) return UNSURE;
    if (!v || v == Py_None) {
        val = Py_None;
        Py_INCREF(val);
    } else if ((r = value(v, &val, 0)) != 1) {
        return r;
    }
    *out = PyObject_CallFunctionObjArgs(Symbol_type, name, val, weak, NULL);
    Py_DECREF(val);
    return *out ? 1 : -1;
}

/* The classinfo payload as payloads._ld_classinfo makes it (today's member names only). */
static int classinfo(PyObject *d, PyObject **out, Py_ssize_t *used)
{
    PyObject *sup, *md, *symb = NULL, *name = NULL, *attrset = NULL, *attrset_v = NULL, *symb_o = NULL;
    int r;
    if ((r = member(d, s_class_super, &sup, used)) != 1) return r;
    PyObject *sup_o = known(sup);
    if (!sup_o) return UNSURE;
    if ((r = member(d, s_class_methodict, &md, used)) != 1) return r;
    if (!PyList_CheckExact(md)) return UNSURE;
    if ((r = member(d, s_class_symb, &symb, used)) < 0) return -1;
    if (symb) {
        if (symb == Py_None) symb_o = Py_None;
        else if (!(symb_o = known(symb))) return UNSURE;
    }
    if ((r = member(d, s_class_name, &name, used)) < 0) return -1;
    if (name && !PyUnicode_CheckExact(name)) return UNSURE;
    if ((r = member(d, s_class_attrset, &attrset, used)) < 0) return -1;
    Py_ssize_t n = PyList_GET_SIZE(md);
    PyObject *pairs = PyList_New(2 * n);
    if (!pairs) return -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *e = PyList_GET_ITEM(md, i), *sel, *clos, *cv;
        if (!PyDict_CheckExact(e)) { Py_DECREF(pairs); return UNSURE; }
        sel = PyDict_GetItemWithError(e, s_methosel);
        if (!sel || !(sel = known(sel))) { Py_DECREF(pairs); return PyErr_Occurred() ? -1 : UNSURE; }
        clos = PyDict_GetItemWithError(e, s_methclos);
        if (!clos) { if (PyErr_Occurred()) { Py_DECREF(pairs); return -1; } clos = Py_None; }
        if ((r = value(clos, &cv, 0)) != 1) { Py_DECREF(pairs); return r; }
        Py_INCREF(sel);
        PyList_SET_ITEM(pairs, 2 * i, sel);
        PyList_SET_ITEM(pairs, 2 * i + 1, cv);
    }
    if (attrset && (r = value(attrset, &attrset_v, 0)) != 1) { Py_DECREF(pairs); return r; }
    PyObject *pl = PyObject_CallOneArg(ClassInfo_type, sup_o);
    if (!pl) goto fail;
    if (n) {
        PyObject *mdict = PyObject_GetAttr(pl, s_methodict);
        if (!mdict) goto fail;
        for (Py_ssize_t i = 0; i < n; i++)
            if (PyObject_SetItem(mdict, PyList_GET_ITEM(pairs, 2 * i), PyList_GET_ITEM(pairs, 2 * i + 1)) < 0) {
                Py_DECREF(mdict);
                goto fail;
            }
        Py_DECREF(mdict);
    }
    if ((symb_o && PyObject_SetAttr(pl, s_symb, symb_o) < 0) || (name && PyObject_SetAttr(pl, s_name, name) < 0)
        || (attrset_v && PyObject_SetAttr(pl, s_attrset, attrset_v) < 0))
        goto fail;
    Py_DECREF(pairs);
    Py_XDECREF(attrset_v);
    *out = pl;
    return 1;
fail:
    Py_XDECREF(pl);
    Py_DECREF(pairs);
    Py_XDECREF(attrset_v);
    return -1;
}

/* One object: 1 filled, UNSURE (nothing of obj touched), -1 error. */
static int fill_one(PyObject *obj, PyObject *d, int old, const char *id_text)
{
    Py_ssize_t used = 0;
    PyObject *oid_text, *mtime, *ctext, *attrs, *comps, *magic, *applying, *kind;
    PyObject *cls, *pairs = NULL, *comps_v = NULL, *payload = NULL;
    int r;
    if ((r = member(d, s_oid, &oid_text, &used)) != 1) return r;
    /* The object's id is its start line's (create made it from those bytes; a lazy fill's scratch object
     * has its ghost's id, found at this chunk). */
    if (!PyUnicode_CheckExact(oid_text) || !PyUnicode_IS_COMPACT_ASCII(oid_text)
        || PyUnicode_GET_LENGTH(oid_text) != ID_LEN || memcmp(PyUnicode_1BYTE_DATA(oid_text), id_text, ID_LEN))
        return UNSURE;
    if ((r = member(d, s_mtime, &mtime, &used)) < 0) return -1;
    if (mtime ? (!PyFloat_CheckExact(mtime) || old) : old) return UNSURE;
    if ((r = member(d, s_class, &ctext, &used)) != 1) return r;
    if (!(cls = known(ctext))) return UNSURE;
    if ((r = member(d, s_attrs, &attrs, &used)) < 0) return -1;
    if (attrs && attrs != Py_None) {
        if (!PyList_CheckExact(attrs)) return UNSURE;
        Py_ssize_t n = PyList_GET_SIZE(attrs);
        if (n) {
            pairs = PyList_New(2 * n);
            if (!pairs) return -1;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *e = PyList_GET_ITEM(attrs, i), *at, *va, *v;
            if (!PyDict_CheckExact(e)) goto unsure;
            va = PyDict_GetItemWithError(e, s_va);
            at = va ? PyDict_GetItemWithError(e, s_at) : NULL;
            if (!at) { if (PyErr_Occurred()) goto error; goto unsure; }
            if (!(at = known(at))) goto unsure;
            if ((r = value(va, &v, 0)) != 1) { if (r < 0) goto error; goto unsure; }
            Py_INCREF(at);
            PyList_SET_ITEM(pairs, 2 * i, at);
            PyList_SET_ITEM(pairs, 2 * i + 1, v);
        }
    }
    if (used < PyDict_GET_SIZE(d)) {  /* what follows class and attributes */
        if ((r = member(d, s_comps, &comps, &used)) < 0) goto error;
        if (comps) {
            if (!PyList_CheckExact(comps)) goto unsure;
            if ((r = values_list(comps, &comps_v, 0)) != 1) { if (r < 0) goto error; goto unsure; }
        }
        if (member(d, s_magicattr, &magic, &used) < 0 || member(d, s_applying, &applying, &used) < 0) goto error;
        if ((magic && magic != Py_True && magic != Py_False)
            || (applying && applying != Py_True && applying != Py_False))
            goto unsure;
        if ((r = member(d, s_payload, &kind, &used)) < 0) goto error;
        if (kind && kind != Py_None) {
            if (!PyUnicode_CheckExact(kind)) goto unsure;
            PyObject *ld = PyDict_GetItemWithError(loaders, kind);
            if (!ld) { if (PyErr_Occurred()) goto error; goto unsure; }
            if (ld == ld_symbol) r = symbol(d, &payload, &used);
            else if (ld == ld_classinfo) r = classinfo(d, &payload, &used);
            else if (ld == ld_space) r = (payload = PyObject_CallNoArgs(Space_type)) ? 1 : -1;
            else r = UNSURE;
            if (r != 1) { if (r < 0) goto error; goto unsure; }
        }
        if (used != PyDict_GET_SIZE(d)) goto unsure;  /* unknown members: kept in `extra` by the Python path */
    } else {
        magic = applying = NULL;
    }
    /* Sure of everything: set the fields, in the Python path's order. */
    {
        PyObject *m = mtime ? mtime : PyFloat_FromDouble(0.0);
        if (!m) goto error;
        r = set_field(obj, F_MTIME, s_mtime, m);
        if (!mtime) Py_DECREF(m);
        if (r < 0 || set_field(obj, F_CLS, s_cls, cls) < 0) goto error;
    }
    if (pairs) {
        PyObject *ad = plain_objects && FIELD(obj, F_ATTRS) ? FIELD(obj, F_ATTRS) : NULL;
        if (ad) Py_INCREF(ad);
        else ad = PyObject_GetAttr(obj, s_attrs);
        if (!ad) goto error;
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(pairs); i += 2)
            if (PyObject_SetItem(ad, PyList_GET_ITEM(pairs, i), PyList_GET_ITEM(pairs, i + 1)) < 0) {
                Py_DECREF(ad);
                goto error;
            }
        Py_DECREF(ad);
    }
    if ((comps_v && set_field(obj, F_COMPS, s_comps, comps_v) < 0)
        || (magic == Py_True && set_field(obj, F_MAGICATTR, s_magicattr, Py_True) < 0)
        || (applying == Py_True && set_field(obj, F_APPLYING, s_applying, Py_True) < 0)
        || (payload && set_field(obj, F_PAYLOAD, s_payload, payload) < 0))
        goto error;
    Py_XDECREF(pairs); Py_XDECREF(comps_v); Py_XDECREF(payload);
    return 1;
unsure:
    Py_XDECREF(pairs); Py_XDECREF(comps_v); Py_XDECREF(payload);
    return UNSURE;
error:
    Py_XDECREF(pairs); Py_XDECREF(comps_v); Py_XDECREF(payload);
    return -1;
}

/* The first `\n` + c in [p, end), as bytes.find(b"\n" + c) (memchr on the rarer second byte). */
static const char *find_nl(const char *p, const char *end, char c)
{
    for (const char *q = p + 1; q < end; q++) {
        q = memchr(q, c, (size_t)(end - q));
        if (!q) return NULL;
        if (q[-1] == '\n') return q - 1;
    }
    return NULL;
}

/* Prefetching for the fill: each reference is a probe of the big id table at random and then a random object
 * whose reference count is raised, both cache misses once the heap outgrows the caches. The fill runs two
 * objects ahead of itself: it finds the id texts of chunk i + 2 in its bytes (`"_` + 18 id digits + `"`) and
 * fetches their table slots; for chunk i + 1, whose slots came meanwhile, it looks the ids up and fetches the
 * objects' headers; each arrives while the objects before are parsed and filled. Prefetches are hints only:
 * what the fill reads is the same with or without them. */
#define AHEAD_IDS 32
typedef struct { int n; uint64_t hi[AHEAD_IDS], lo[AHEAD_IDS]; } ahead_t;

static void ahead_scan(ahead_t *a, const char *p, const char *end, const IdTable *t)
{
    a->n = 0;
    if (!t->slots) return;
    while (a->n < AHEAD_IDS && p + ID_LEN + 1 < end) {
        const char *q = memchr(p, '_', (size_t)(end - p - ID_LEN - 1));
        if (!q) break;
        p = q + 1;
        if (q[-1] != '"' || q[ID_LEN] != '"') continue;
        uint64_t hi, lo;
        if (!parse_id((const unsigned char *)q, &hi, &lo)) continue;
        a->hi[a->n] = hi;
        a->lo[a->n] = lo;
        a->n++;
        __builtin_prefetch(&t->slots[slot_of(hi, lo, t->mask)], 0);
        p = q + ID_LEN;
    }
}

static void ahead_objects(const ahead_t *a, IdTable *t)
{
    for (int k = 0; k < a->n; k++) {
        PyObject *o = table_find(t, a->hi[k], a->lo[k]);
        if (o) __builtin_prefetch(o, 1);
    }
}

/* fill(data, starts, ends, objects, first, by_text, loads, slow, old) -> the number of objects left to slow.
 * Fills objects[k] from chunk first + k, in order; an object it is not sure of is handed to slow(first + k,
 * obj) when the fill reaches it, which fills it (or raises) through the Python path. */
static PyObject *lf_fill(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer dbuf, sbuf, ebuf;
    PyObject *objs, *loads, *slow;
    IdTable *table;
    Py_ssize_t first;
    int old;
    if (!PyArg_ParseTuple(args, "y*y*y*O!nO!OOp", &dbuf, &sbuf, &ebuf, &PyList_Type, &objs, &first,
                          &IdTable_Type, &table, &loads, &slow, &old))
        return NULL;
    const char *data = dbuf.buf;
    const int64_t *st = sbuf.buf, *en = ebuf.buf;
    Py_ssize_t nchunks = sbuf.len / (Py_ssize_t)sizeof(int64_t), slowed = 0;
    IdTable *saved = by_text;
    PyObject *result = NULL;
    by_text = table;
    ahead_t ahead[2];
    int many = PyList_GET_SIZE(objs) > 1;
    ahead[0].n = ahead[1].n = 0;
    if (many && first >= 1 && first + 1 < nchunks)
        ahead_scan(&ahead[(first + 1) & 1], data + st[first + 1], data + en[first + 1], table);
    for (Py_ssize_t k = 0; k < PyList_GET_SIZE(objs); k++) {
        Py_ssize_t i = first + k;
        PyObject *obj = PyList_GET_ITEM(objs, k), *d = NULL;
        int r = UNSURE;
        if (i < 1 || i >= nchunks) { PyErr_SetString(PyExc_IndexError, "loadfast.fill: no such chunk"); goto done; }
        if (many) {
            if (i + 1 < nchunks) ahead_objects(&ahead[(i + 1) & 1], table);
            if (i + 2 < nchunks) ahead_scan(&ahead[i & 1], data + st[i + 2], data + en[i + 2], table);
        }
        int64_t base = st[i], limit = en[i];
        const char *s = limit - base > ID_LEN ? find_nl(data + base, data + limit, '{') : NULL;
        const char *e = s ? find_nl(s, data + limit, '}') : NULL;
        if (e) {
            PyObject *view = PyMemoryView_FromMemory((char *)s + 1, e + 2 - (s + 1), PyBUF_READ);
            if (!view) goto done;
            d = PyObject_CallOneArg(loads, view);
            Py_DECREF(view);
            if (!d) PyErr_Clear();  /* refused: the Python path parses it again and says why */
        }
        if (d && PyDict_CheckExact(d)) {
            Py_INCREF(obj);  /* kept alive whatever fill_one's setters run */
            r = fill_one(obj, d, old, data + base);
            Py_DECREF(obj);
        }
        Py_XDECREF(d);
        if (r < 0) goto done;
        if (r == UNSURE) {
            slowed++;
            PyObject *idx = PyLong_FromSsize_t(i);
            if (!idx) goto done;
            PyObject *res = PyObject_CallFunctionObjArgs(slow, idx, obj, NULL);
            Py_DECREF(idx);
            if (!res) goto done;
            Py_DECREF(res);
        }
    }
    result = PyLong_FromSsize_t(slowed);
done:
    by_text = saved;
    PyBuffer_Release(&dbuf); PyBuffer_Release(&sbuf); PyBuffer_Release(&ebuf);
    return result;
}

/* -- memory for a load ------------------------------------------------------------------------------------- */

/* A load makes about a kilobyte of new objects per stored object, in memory that the process has never
 * touched once the heap outgrows what freed objects left (a store of 100,000 objects and more): each first
 * touch of a 4 kB page is a page fault, about a third of a fault per object, and on a virtual machine a fault
 * costs microseconds. `arenas(True)` makes pymalloc's arenas (1 MB each) mapped with MAP_POPULATE while the
 * load runs: the kernel maps and zeroes each arena's pages in one call instead of one fault per page (the
 * same memory, the same zeroing; `arenas(False)` puts back the allocator found). CPython's own arena
 * allocator maps arenas with mmap and unmaps them with munmap, as this one does, so an arena made by either
 * may be freed by the other; this is done only while the allocator in place is the one found when this
 * module was set up, with no context (CPython's default: nothing replaced it since), else not at all. */
static PyObjectArenaAllocator initial_arena;
static int arena_depth;

static void *populated_alloc(void *ctx, size_t size)
{
    (void)ctx;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS
#ifdef MAP_POPULATE
                   | MAP_POPULATE
#endif
                   , -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void populated_free(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    munmap(ptr, size);
}

static PyObjectArenaAllocator populated_arena = {NULL, populated_alloc, populated_free};

/* arenas(on) -> whether arenas are now populated (nested: each True is undone by one False). */
static PyObject *lf_arenas(PyObject *self, PyObject *arg)
{
    (void)self;
    int on = PyObject_IsTrue(arg);
    if (on < 0) return NULL;
    PyObjectArenaAllocator cur;
    PyObject_GetArenaAllocator(&cur);
    if (on) {
        if (arena_depth > 0 && cur.alloc == populated_alloc) arena_depth++;
        else if (arena_depth == 0 && initial_arena.alloc && !initial_arena.ctx && !cur.ctx
                 && cur.alloc == initial_arena.alloc && cur.free == initial_arena.free) {
            PyObject_SetArenaAllocator(&populated_arena);
            arena_depth = 1;
        }
    } else if (arena_depth > 0 && --arena_depth == 0 && cur.alloc == populated_alloc) {
        PyObject_SetArenaAllocator(&initial_arena);
    }
    return PyBool_FromLong(arena_depth > 0);
}

/* read_fd(fd) -> bytes: the whole file from its current offset, as f.read() gives it, into a buffer whose
 * pages are populated before the read (MADV_POPULATE_WRITE where the kernel has it) instead of faulted in
 * one by one while the kernel copies. The GIL is released while reading. */
static PyObject *lf_read_fd(PyObject *self, PyObject *arg)
{
    (void)self;
    int fd = PyObject_AsFileDescriptor(arg);
    if (fd < 0) return NULL;
    struct stat stbuf;
    Py_ssize_t cap = 0;
    if (fstat(fd, &stbuf) == 0 && S_ISREG(stbuf.st_mode) && stbuf.st_size > 0) cap = (Py_ssize_t)stbuf.st_size;
    off_t pos = lseek(fd, 0, SEEK_CUR);
    if (pos > 0 && pos <= cap) cap -= pos;
    cap += 1;  /* one more: reaching it means the file grew, and the loop goes on */
    PyObject *b = PyBytes_FromStringAndSize(NULL, cap);
    if (!b) return NULL;
    Py_ssize_t got = 0;
    for (;;) {
        char *buf = PyBytes_AS_STRING(b);
#ifdef MADV_POPULATE_WRITE
        if (cap - got >= (1 << 21)) {
            uintptr_t lo = ((uintptr_t)(buf + got) + 4095) & ~(uintptr_t)4095;
            uintptr_t hi = ((uintptr_t)(buf + cap)) & ~(uintptr_t)4095;
            if (hi > lo) (void)madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE);  /* a hint: EINVAL is fine */
        }
#endif
        ssize_t r;
        Py_BEGIN_ALLOW_THREADS
        r = read(fd, buf + got, (size_t)(cap - got));
        Py_END_ALLOW_THREADS
        if (r < 0) {
            if (errno == EINTR) { if (PyErr_CheckSignals() < 0) goto fail; continue; }
            PyErr_SetFromErrno(PyExc_OSError);
            goto fail;
        }
        if (r == 0) break;
        got += r;
        if (got == cap) {
            cap = cap + cap / 4 + 65536;
            if (_PyBytes_Resize(&b, cap) < 0) return NULL;
        }
    }
    if (_PyBytes_Resize(&b, got) < 0) return NULL;
    return b;
fail:
    Py_DECREF(b);
    return NULL;
}

static PyMethodDef methods[] = {
    {"setup", lf_setup, METH_VARARGS, "setup(Oid, RpsObject, PayloadSymbol, PayloadClassInfo, VClosure, VSet, "
                                      "LOADERS, ld_symbol, ld_classinfo, PayloadSpace, ld_space)"},
    {"scan", lf_scan, METH_VARARGS, "scan(data) -> (starts, ends, ids, sorted) or None"},
    {"create", lf_create, METH_VARARGS, "create(data, starts, ids, jar, table, heap_objects) -> (objects, ptrs)"},
    {"ghost_index", lf_ghost_index, METH_VARARGS, "ghost_index(ptrs, obj) -> its index in the file, or -1"},
    {"ghost_oid", lf_ghost_oid, METH_VARARGS, "ghost_oid(ptrs, obj, data, starts, ids) -> its Oid, or None"},
    {"ghost_oids", lf_ghost_oids, METH_VARARGS, "ghost_oids(objects, data, starts, ids)"},
    {"resolve", lf_resolve, METH_VARARGS, "resolve(table, texts, target) -> -1 or the first unknown's index"},
    {"set_all", lf_set_all, METH_VARARGS, "set_all(objects, name, value)"},
    {"fill", lf_fill, METH_VARARGS, "fill(data, starts, ends, objects, first, by_text, loads, slow, old)"},
    {"arenas", lf_arenas, METH_O, "arenas(on) -> whether pymalloc's arenas are now mapped populated"},
    {"read_fd", lf_read_fd, METH_O, "read_fd(fd) -> bytes: the rest of the file, read into populated pages"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_rpsrt_loadfast", NULL, -1, methods,
                                    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__rpsrt_loadfast(void)
{
    memset(digit_of, -1, sizeof digit_of);
    for (int k = 0; k < 62; k++) digit_of[(unsigned char)ALPHABET[k]] = (signed char)k;
#define I(v, s) if (!((v) = intern(s))) return NULL
    I(s_oid, "oid"); I(s_mtime, "mtime"); I(s_class, "class"); I(s_attrs, "attrs"); I(s_comps, "comps");
    I(s_payload, "payload"); I(s_magicattr, "magicattr"); I(s_applying, "applying"); I(s_at, "at");
    I(s_va, "va"); I(s_cls, "cls"); I(s_space, "space"); I(s_jar, "_jar"); I(s_symb_name, "symb_name");
    I(s_symb_val, "symb_val"); I(s_symb_weak, "symb_weak"); I(s_class_super, "class_super");
    I(s_class_methodict, "class_methodict"); I(s_class_symb, "class_symb"); I(s_class_name, "class_name");
    I(s_class_attrset, "class_attrset"); I(s_methosel, "methosel"); I(s_methclos, "methclos");
    I(s_methodict, "methodict"); I(s_symb, "symb"); I(s_name, "name"); I(s_attrset, "attrset");
    I(s_vtype, "vtype"); I(s_string, "string"); I(s_str, "str"); I(s_closure, "closure"); I(s_set, "set");
    I(s_fn, "fn"); I(s_env, "env"); I(s_metaobj, "metaobj"); I(s_metarank, "metarank"); I(s_elem, "elem");
#undef I
    if (PyType_Ready(&IdTable_Type) < 0) return NULL;
    PyObject_GetArenaAllocator(&initial_arena);
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&IdTable_Type);
    if (PyModule_AddObject(m, "IdTable", (PyObject *)&IdTable_Type) < 0) { Py_DECREF(m); return NULL; }
    return m;
}
