/*
 * ilvb.sfu.fastpath._fastpath: the SFU's per-packet fan-out in one C call.
 *
 * For ONE incoming (decrypted) RTP packet and the list of its consumers, forward() builds each
 * consumer's packet (new payload type, sequence number, timestamp and SSRC; V, P, CC and the
 * marker kept, CSRCs copied, header extensions dropped, payload and padding untouched: the same
 * bytes as ilvb.sfu.rtp.packet.rewrite_rtp), SRTP-protects it and sends all of them with
 * sendmmsg(2) on the worker's UDP socket.
 *
 * SRTP: no libsrtp of our own. A Tx wraps the transport's pylibsrtp Session (its srtp_t) and
 * calls the srtp_protect of the libsrtp that pylibsrtp's wheel carries (OpenSSL-backed; its
 * address comes from pylibsrtp's cffi module through _bind()). So forwarded packets, NACK
 * answers protected in Python and RTCP all use ONE libsrtp context per transport: one
 * rollover counter per SSRC, whichever path protected the previous packet.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#define BATCH 64
/* libsrtp 2.x: SRTP_MAX_TRAILER_LEN = SRTP_MAX_TAG_LEN (16) + SRTP_MAX_MKI_LEN (128) */
#define MAX_TRAILER 144
#define MAX_PLAIN 1500
#define SLOT_LEN (MAX_PLAIN + MAX_TRAILER + 16)

/* srtp_err_status_t srtp_protect(srtp_t ctx, void *rtp_hdr, int *len_ptr); 0 = ok */
typedef int (*srtp_protect_fn)(void *ctx, void *rtp_hdr, int *len_ptr);
static srtp_protect_fn srtp_protect_p = NULL;

typedef struct {
    PyObject_HEAD
    void *session;      /* the srtp_t of `owner` */
    PyObject *owner;    /* the pylibsrtp.Session that owns (and frees) the context */
    PyObject *addr_obj; /* the last address tuple seen (identity cache) */
    struct sockaddr_in6 addr; /* a sockaddr_in or a sockaddr_in6 */
    socklen_t addr_len;
} TxObject;

static PyObject *FastpathError;
static PyTypeObject TxType;

/* per-call scratch space: one packet buffer, one iovec, one msghdr, one sockaddr per slot */
static unsigned char bufs[BATCH][SLOT_LEN];
static struct iovec iovs[BATCH];
static struct mmsghdr msgs[BATCH];
static struct sockaddr_in6 addrs[BATCH];

/* ---------------------------------------------------------------------------------- Tx */

static int Tx_init(TxObject *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"owner", "ctx", NULL};
    PyObject *owner, *ctx;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO!", kwlist, &owner, &PyLong_Type, &ctx))
        return -1;
    void *p = PyLong_AsVoidPtr(ctx);
    if (p == NULL) {
        if (!PyErr_Occurred()) PyErr_SetString(FastpathError, "null SRTP context");
        return -1;
    }
    if (srtp_protect_p == NULL) {
        PyErr_SetString(FastpathError, "srtp_protect not bound (call _bind first)");
        return -1;
    }
    Py_INCREF(owner);
    Py_XSETREF(self->owner, owner);
    self->session = p;
    return 0;
}

static void Tx_dealloc(TxObject *self) {
    Py_XDECREF(self->owner);
    Py_XDECREF(self->addr_obj);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Protect one plain RTP packet (e.g. a NACK retransmission) with this context. */
static PyObject *Tx_protect(TxObject *self, PyObject *arg) {
    Py_buffer pkt;
    if (self->session == NULL) {
        PyErr_SetString(FastpathError, "Tx is not keyed");
        return NULL;
    }
    if (PyObject_GetBuffer(arg, &pkt, PyBUF_SIMPLE) < 0) return NULL;
    if (pkt.len < 12 || pkt.len > MAX_PLAIN) {
        PyBuffer_Release(&pkt);
        PyErr_SetString(FastpathError, "packet length out of range");
        return NULL;
    }
    unsigned char buf[SLOT_LEN];
    int len = (int)pkt.len;
    memcpy(buf, pkt.buf, pkt.len);
    PyBuffer_Release(&pkt);
    int st = srtp_protect_p(self->session, buf, &len);
    if (st != 0) {
        PyErr_Format(FastpathError, "srtp_protect failed (%d)", (int)st);
        return NULL;
    }
    return PyBytes_FromStringAndSize((const char *)buf, len);
}

/* Resolve an (ip, port[, flowinfo, scope_id]) tuple into self->addr (IPv4 or IPv6, as the
   worker's socket reports them); cached by object identity. */
static int Tx_set_addr(TxObject *self, PyObject *addr) {
    if (addr == self->addr_obj) return 0;
    const char *host;
    int port;
    unsigned int flowinfo = 0, scope_id = 0;
    if (!PyTuple_Check(addr) || !PyArg_ParseTuple(addr, "si|II", &host, &port, &flowinfo,
                                                  &scope_id)) {
        PyErr_Clear();
        PyErr_SetString(FastpathError, "address must be an (ip, port) tuple");
        return -1;
    }
    if (port < 0 || port > 65535) {
        PyErr_Format(FastpathError, "bad port %d", port);
        return -1;
    }
    struct sockaddr_in6 sa6;
    memset(&sa6, 0, sizeof(sa6));
    if (strchr(host, ':') != NULL) {
        sa6.sin6_family = AF_INET6;
        sa6.sin6_port = htons((uint16_t)port);
        sa6.sin6_flowinfo = htonl(flowinfo);
        sa6.sin6_scope_id = scope_id;
        if (inet_pton(AF_INET6, host, &sa6.sin6_addr) != 1) {
            PyErr_Format(FastpathError, "not an IP address: %s", host);
            return -1;
        }
        self->addr_len = sizeof(struct sockaddr_in6);
    } else {
        struct sockaddr_in *sa = (struct sockaddr_in *)&sa6;
        sa->sin_family = AF_INET;
        sa->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, host, &sa->sin_addr) != 1) {
            PyErr_Format(FastpathError, "not an IP address: %s", host);
            return -1;
        }
        self->addr_len = sizeof(struct sockaddr_in);
    }
    self->addr = sa6;
    Py_INCREF(addr);
    Py_XSETREF(self->addr_obj, addr);
    return 0;
}

static PyMethodDef Tx_methods[] = {
    {"protect", (PyCFunction)Tx_protect, METH_O,
     "protect(packet) -> bytes: SRTP-protect one plain RTP packet with this context."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject TxType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ilvb.sfu.fastpath._fastpath.Tx",
    .tp_basicsize = sizeof(TxObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Tx(owner, ctx): a pylibsrtp Session `owner` and its srtp_t address `ctx`.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Tx_init,
    .tp_dealloc = (destructor)Tx_dealloc,
    .tp_methods = Tx_methods,
};

/* ---------------------------------------------------------------------------- forward */

/* sendmmsg the first n prepared messages; returns how many the kernel took. */
static int flush(int fd, int n) {
    int done = 0;
    while (done < n) {
        int r = sendmmsg(fd, msgs + done, (unsigned int)(n - done), 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            /* EAGAIN / ENOBUFS / ICMP-reported error: the message at `done` is lost, like a
               full send buffer in the Python path; skip it and keep going */
            done++;
            continue;
        }
        if (r == 0) break;
        done += r;
    }
    return done;
}

static PyObject *forward(PyObject *mod, PyObject *args) {
    int fd;
    Py_buffer data;
    Py_ssize_t header_len;
    PyObject *items;
    if (!PyArg_ParseTuple(args, "iy*nO!", &fd, &data, &header_len, &PyList_Type, &items))
        return NULL;
    const unsigned char *in = (const unsigned char *)data.buf;
    Py_ssize_t in_len = data.len;
    int cc = in_len >= 12 ? (in[0] & 0x0F) : 0;
    if (in_len < 12 || header_len < 12 + 4 * cc || header_len > in_len ||
        12 + 4 * cc + (in_len - header_len) > MAX_PLAIN) {
        PyBuffer_Release(&data);
        PyErr_SetString(FastpathError, "malformed RTP packet or header_len");
        return NULL;
    }
    const Py_ssize_t body = in_len - header_len;
    const int hdr = 12 + 4 * cc;
    Py_ssize_t count = PyList_GET_SIZE(items);
    long sent = 0, failed = 0;
    int n = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *it = PyList_GET_ITEM(items, i);
        if (!PyTuple_Check(it) || PyTuple_GET_SIZE(it) != 6 ||
            !PyObject_TypeCheck(PyTuple_GET_ITEM(it, 0), &TxType)) {
            PyErr_SetString(FastpathError, "items must be (Tx, addr, pt, seq, ts, ssrc) tuples");
            goto error;
        }
        TxObject *tx = (TxObject *)PyTuple_GET_ITEM(it, 0);
        if (tx->session == NULL) {
            failed++;
            continue;
        }
        if (Tx_set_addr(tx, PyTuple_GET_ITEM(it, 1)) < 0) goto error;
        unsigned long pt = PyLong_AsUnsignedLongMask(PyTuple_GET_ITEM(it, 2));
        unsigned long seq = PyLong_AsUnsignedLongMask(PyTuple_GET_ITEM(it, 3));
        unsigned long ts = PyLong_AsUnsignedLongMask(PyTuple_GET_ITEM(it, 4));
        unsigned long ssrc = PyLong_AsUnsignedLongMask(PyTuple_GET_ITEM(it, 5));
        if (PyErr_Occurred()) goto error;
        unsigned char *out = bufs[n];
        out[0] = in[0] & 0xEF; /* V, P, CC kept; X cleared: extensions dropped */
        out[1] = (unsigned char)((in[1] & 0x80) | (pt & 0x7F));
        out[2] = (unsigned char)(seq >> 8);
        out[3] = (unsigned char)seq;
        out[4] = (unsigned char)(ts >> 24);
        out[5] = (unsigned char)(ts >> 16);
        out[6] = (unsigned char)(ts >> 8);
        out[7] = (unsigned char)ts;
        out[8] = (unsigned char)(ssrc >> 24);
        out[9] = (unsigned char)(ssrc >> 16);
        out[10] = (unsigned char)(ssrc >> 8);
        out[11] = (unsigned char)ssrc;
        if (cc) memcpy(out + 12, in + 12, (size_t)(4 * cc));
        memcpy(out + hdr, in + header_len, (size_t)body);
        int len = hdr + (int)body;
        if (srtp_protect_p(tx->session, out, &len) != 0) {
            failed++;
            continue;
        }
        iovs[n].iov_base = out;
        iovs[n].iov_len = (size_t)len;
        addrs[n] = tx->addr;
        memset(&msgs[n].msg_hdr, 0, sizeof(struct msghdr));
        msgs[n].msg_hdr.msg_name = &addrs[n];
        msgs[n].msg_hdr.msg_namelen = tx->addr_len;
        msgs[n].msg_hdr.msg_iov = &iovs[n];
        msgs[n].msg_hdr.msg_iovlen = 1;
        n++;
        if (n == BATCH) {
            int ok = flush(fd, n);
            sent += ok;
            failed += n - ok;
            n = 0;
        }
    }
    if (n) {
        int ok = flush(fd, n);
        sent += ok;
        failed += n - ok;
    }
    PyBuffer_Release(&data);
    return Py_BuildValue("(ll)", sent, failed);
error:
    if (n) flush(fd, n); /* what was protected must go out: the SRTP index advanced */
    PyBuffer_Release(&data);
    return NULL;
}

static PyObject *bind_protect(PyObject *mod, PyObject *arg) {
    void *p = PyLong_AsVoidPtr(arg);
    if (p == NULL) {
        if (!PyErr_Occurred()) PyErr_SetString(FastpathError, "null srtp_protect");
        return NULL;
    }
    srtp_protect_p = (srtp_protect_fn)p;
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"_bind", bind_protect, METH_O, "_bind(address of srtp_protect): the libsrtp to call."},
    {"forward", forward, METH_VARARGS,
     "forward(fd, data, header_len, items) -> (sent, failed).\n\n"
     "items: list of (Tx, (ip, port), payload_type, seq, timestamp, ssrc). For each, rewrite\n"
     "the header of the plain RTP packet `data` (payload starts at header_len), SRTP-protect\n"
     "it with Tx and send everything with sendmmsg on socket fd."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "_fastpath",
    "Rewrite + SRTP protect + sendmmsg for one packet and its consumers.", -1,
    module_methods,
};

PyMODINIT_FUNC PyInit__fastpath(void) {
    if (PyType_Ready(&TxType) < 0) return NULL;
    PyObject *m = PyModule_Create(&moduledef);
    if (m == NULL) return NULL;
    FastpathError = PyErr_NewException("ilvb.sfu.fastpath._fastpath.Error", NULL, NULL);
    Py_INCREF(FastpathError);
    PyModule_AddObject(m, "Error", FastpathError);
    Py_INCREF(&TxType);
    PyModule_AddObject(m, "Tx", (PyObject *)&TxType);
    PyModule_AddIntConstant(m, "BATCH", BATCH);
    return m;
}
