// DoH over HTTP/3 (ngtcp2 + GnuTLS + nghttp3 from Debian) and a handshake-only QUIC connection that
// returns the server's certificates. See include/dnsaudit_h3.h; the QUIC steps shared with doq.c: quic_common.h.
#define _GNU_SOURCE
#include "dnsaudit_h3.h"

#include "quic_common.h"

#include <stdlib.h>
#include <string.h>

#include <nghttp3/nghttp3.h>

typedef struct h3client {
    dnsaudit_quic q;  // first: ngtcp2's user_data is the client
    nghttp3_conn *h3;
    int handshake_only;
    int64_t stream_id;
    uint8_t *body;
    size_t body_cap;
    size_t body_len;
    int body_overflow;
    int response_done;  // end_stream on the request stream
    int stream_closed;
    int http_status;
    char content_type[96];
} h3client;

// QUIC → HTTP/3: stream data, acknowledgements, flow control, stream ends.
static int h3_recv_stream_data_cb(ngtcp2_conn *conn, uint32_t flags, int64_t stream_id, uint64_t offset, const uint8_t *data,
                                  size_t datalen, void *user_data, void *stream_user_data) {
    (void)offset;
    (void)stream_user_data;
    h3client *c = user_data;
    if (!c->h3) {
        ngtcp2_conn_extend_max_stream_offset(conn, stream_id, datalen);
        ngtcp2_conn_extend_max_offset(conn, datalen);
        return 0;
    }
    nghttp3_ssize consumed =
        nghttp3_conn_read_stream(c->h3, stream_id, data, datalen, (flags & NGTCP2_STREAM_DATA_FLAG_FIN) ? 1 : 0);
    if (consumed < 0) return NGTCP2_ERR_CALLBACK_FAILURE;  // a malformed HTTP/3 peer: the connection fails
    ngtcp2_conn_extend_max_stream_offset(conn, stream_id, (uint64_t)consumed);
    ngtcp2_conn_extend_max_offset(conn, (uint64_t)consumed);
    return 0;
}

static int h3_acked_cb(ngtcp2_conn *conn, int64_t stream_id, uint64_t offset, uint64_t datalen, void *user_data,
                       void *stream_user_data) {
    (void)conn;
    (void)offset;
    (void)stream_user_data;
    h3client *c = user_data;
    if (c->h3 && nghttp3_conn_add_ack_offset(c->h3, stream_id, datalen) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
    return 0;
}

static int h3_extend_max_stream_data_cb(ngtcp2_conn *conn, int64_t stream_id, uint64_t max_data, void *user_data,
                                        void *stream_user_data) {
    (void)conn;
    (void)max_data;
    (void)stream_user_data;
    h3client *c = user_data;
    if (c->h3 && nghttp3_conn_unblock_stream(c->h3, stream_id) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
    return 0;
}

static int h3_stream_close_cb(ngtcp2_conn *conn, uint32_t flags, int64_t stream_id, uint64_t app_error_code, void *user_data,
                              void *stream_user_data) {
    (void)conn;
    (void)stream_user_data;
    h3client *c = user_data;
    if (stream_id == c->stream_id) c->stream_closed = 1;
    if (!(flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET)) app_error_code = NGHTTP3_H3_NO_ERROR;
    if (c->h3) {
        int rv = nghttp3_conn_close_stream(c->h3, stream_id, app_error_code);
        if (rv != 0 && rv != NGHTTP3_ERR_STREAM_NOT_FOUND) return NGTCP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
}

static int h3_stream_reset_cb(ngtcp2_conn *conn, int64_t stream_id, uint64_t final_size, uint64_t app_error_code,
                              void *user_data, void *stream_user_data) {
    (void)conn;
    (void)final_size;
    (void)app_error_code;
    (void)stream_user_data;
    h3client *c = user_data;
    if (stream_id == c->stream_id) c->stream_closed = 1;
    if (c->h3 && nghttp3_conn_shutdown_stream_read(c->h3, stream_id) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
    return 0;
}

// HTTP/3 callbacks: the response's status, content-type, body and end.
static int h3_recv_header_cb(nghttp3_conn *conn, int64_t stream_id, int32_t token, nghttp3_rcbuf *name, nghttp3_rcbuf *value,
                             uint8_t flags, void *user_data, void *stream_user_data) {
    (void)conn;
    (void)flags;
    (void)stream_user_data;
    h3client *c = user_data;
    if (stream_id != c->stream_id) return 0;
    nghttp3_vec v = nghttp3_rcbuf_get_buf(value);
    if (token == NGHTTP3_QPACK_TOKEN__STATUS) {
        int s = 0;
        for (size_t i = 0; i < v.len && i < 3; i++) {
            if (v.base[i] < '0' || v.base[i] > '9') return 0;
            s = s * 10 + (v.base[i] - '0');
        }
        if (v.len == 3) c->http_status = s;
    } else if (token == NGHTTP3_QPACK_TOKEN_CONTENT_TYPE) {
        size_t n = v.len < sizeof c->content_type - 1 ? v.len : sizeof c->content_type - 1;
        memcpy(c->content_type, v.base, n);
        c->content_type[n] = 0;
    }
    (void)name;
    return 0;
}

static int h3_recv_data_cb(nghttp3_conn *conn, int64_t stream_id, const uint8_t *data, size_t datalen, void *user_data,
                           void *stream_user_data) {
    (void)conn;
    (void)stream_user_data;
    h3client *c = user_data;
    if (stream_id == c->stream_id) {
        if (datalen > c->body_cap - c->body_len) {
            c->body_overflow = 1;
        } else {
            memcpy(c->body + c->body_len, data, datalen);
            c->body_len += datalen;
        }
    }
    ngtcp2_conn_extend_max_stream_offset(c->q.conn, stream_id, datalen);
    ngtcp2_conn_extend_max_offset(c->q.conn, datalen);
    return 0;
}

static int h3_deferred_consume_cb(nghttp3_conn *conn, int64_t stream_id, size_t consumed, void *user_data,
                                  void *stream_user_data) {
    (void)conn;
    (void)stream_user_data;
    h3client *c = user_data;
    ngtcp2_conn_extend_max_stream_offset(c->q.conn, stream_id, consumed);
    ngtcp2_conn_extend_max_offset(c->q.conn, consumed);
    return 0;
}

static int h3_end_stream_cb(nghttp3_conn *conn, int64_t stream_id, void *user_data, void *stream_user_data) {
    (void)conn;
    (void)stream_user_data;
    h3client *c = user_data;
    if (stream_id == c->stream_id) c->response_done = 1;
    return 0;
}

static int h3_http_stream_close_cb(nghttp3_conn *conn, int64_t stream_id, uint64_t app_error_code, void *user_data,
                                   void *stream_user_data) {
    (void)conn;
    (void)app_error_code;
    (void)stream_user_data;
    h3client *c = user_data;
    if (stream_id == c->stream_id) c->stream_closed = 1;
    return 0;
}

static void h3_fail(dnsaudit_h3_result *r, int status, const char *fmt, const char *arg) { dnsaudit_quic_fail(&r->quic, status, fmt, arg); }

/// Sends what ngtcp2 and nghttp3 have to send. Returns 0, or -1 with `r` set.
static int h3_write_packets(h3client *c, dnsaudit_h3_result *r) {
    uint8_t buf[1500];
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    for (int rounds = 0; rounds < 4096; rounds++) {
        int64_t sid = -1;
        int fin = 0;
        nghttp3_vec vec[16];
        nghttp3_ssize veccnt = 0;
        if (c->h3 && ngtcp2_conn_get_max_data_left(c->q.conn) > 0) {
            veccnt = nghttp3_conn_writev_stream(c->h3, &sid, &fin, vec, 16);
            if (veccnt < 0) {
                h3_fail(r, DNSAUDIT_DOQ_NO_ANSWER, "HTTP/3: %s", nghttp3_strerror((int)veccnt));
                return -1;
            }
        }
        uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE;
        if (fin) flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
        ngtcp2_ssize datalen = -1;
        ngtcp2_pkt_info pi;
        ngtcp2_ssize n = ngtcp2_conn_writev_stream(c->q.conn, &ps.path, &pi, buf, sizeof buf, &datalen, flags, sid,
                                                   (const ngtcp2_vec *)vec, (size_t)veccnt, dnsaudit_quic_now());
        if (n < 0) {
            if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED) {
                nghttp3_conn_block_stream(c->h3, sid);
                continue;
            }
            if (n == NGTCP2_ERR_STREAM_SHUT_WR) {
                nghttp3_conn_shutdown_stream_write(c->h3, sid);
                continue;
            }
            if (n == NGTCP2_ERR_WRITE_MORE) {
                if (c->h3 && nghttp3_conn_add_write_offset(c->h3, sid, (size_t)datalen) != 0) {
                    h3_fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "HTTP/3 write offset%s", "");
                    return -1;
                }
                continue;
            }
            return dnsaudit_quic_write_failure(&c->q, n, &r->quic);
        }
        if (datalen >= 0 && c->h3 && nghttp3_conn_add_write_offset(c->h3, sid, (size_t)datalen) != 0) {
            h3_fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "HTTP/3 write offset%s", "");
            return -1;
        }
        if (n == 0) return 0;
        int sent = dnsaudit_quic_send(&c->q, buf, (size_t)n, &r->quic);
        if (sent <= 0) return sent;
    }
    return 0;
}

static int h3_finished(const void *p) {
    const h3client *c = p;
    return c->handshake_only ? c->q.handshake_completed : c->response_done;
}

/// The HTTP/3 session once the handshake is done: control and QPACK streams, then the GET.
static int h3_start(h3client *c, const char *authority, const char *path, dnsaudit_h3_result *r) {
    nghttp3_callbacks cb = {
        .stream_close = h3_http_stream_close_cb,
        .recv_data = h3_recv_data_cb,
        .deferred_consume = h3_deferred_consume_cb,
        .recv_header = h3_recv_header_cb,
        .end_stream = h3_end_stream_cb,
    };
    nghttp3_settings settings;
    nghttp3_settings_default(&settings);
    if (nghttp3_conn_client_new(&c->h3, &cb, &settings, NULL, c) != 0) {
        h3_fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "nghttp3_conn_client_new failed%s", "");
        return -1;
    }
    int64_t ctrl, qenc, qdec;
    if (ngtcp2_conn_open_uni_stream(c->q.conn, &ctrl, NULL) != 0 || ngtcp2_conn_open_uni_stream(c->q.conn, &qenc, NULL) != 0
        || ngtcp2_conn_open_uni_stream(c->q.conn, &qdec, NULL) != 0) {
        h3_fail(r, DNSAUDIT_DOQ_NO_ANSWER, "the server allows too few unidirectional streams for HTTP/3%s", "");
        return -1;
    }
    if (nghttp3_conn_bind_control_stream(c->h3, ctrl) != 0 || nghttp3_conn_bind_qpack_streams(c->h3, qenc, qdec) != 0) {
        h3_fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "HTTP/3 stream set-up failed%s", "");
        return -1;
    }
    if (ngtcp2_conn_open_bidi_stream(c->q.conn, &c->stream_id, NULL) != 0) {
        h3_fail(r, DNSAUDIT_DOQ_NO_ANSWER, "cannot open a request stream%s", "");
        return -1;
    }
#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP3_NV_FLAG_NONE}
    const nghttp3_nv nva[] = {
        NV(":method", "GET"), NV(":scheme", "https"), NV(":authority", authority), NV(":path", path),
        NV("accept", "application/dns-message"), NV("user-agent", "dnsaudit"),
    };
#undef NV
    if (nghttp3_conn_submit_request(c->h3, c->stream_id, nva, sizeof nva / sizeof nva[0], NULL, NULL) != 0) {
        h3_fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "cannot submit the request%s", "");
        return -1;
    }
    return 0;
}

static int h3_run(const char *address, int port, const char *verify_name, const char *sni, const char *ca_file,
                  int use_system_trust, const char *alpn_id, const char *authority, const char *path, int timeout_ms,
                  uint8_t *out, size_t out_cap, size_t *out_len, dnsaudit_h3_result *r) {
    int handshake_only = authority == NULL;
    memset(r, 0, sizeof *r);
    r->quic.status = DNSAUDIT_DOQ_LOCAL_ERROR;
    if (out_len) *out_len = 0;
    if (!address || !alpn_id || !*alpn_id || strlen(alpn_id) > 255 || !out || !out_len || port <= 0 || port > 65535
        || (!handshake_only && (!path || strlen(path) > 4096 || strlen(authority) > 512))) {
        h3_fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "bad arguments%s", "");
        return r->quic.status;
    }
    if (timeout_ms < 100) timeout_ms = 100;

    h3client c;
    memset(&c, 0, sizeof c);
    dnsaudit_quic_init(&c.q, !handshake_only);
    c.stream_id = -1;
    c.handshake_only = handshake_only;
    c.body = out;
    c.body_cap = out_cap;

    // The socket, TLS (handshake-only: no trust roots, no verification), QUIC with room for the
    // server's control and QPACK streams.
    if (dnsaudit_quic_open_socket(&c.q, address, port, &r->quic) != 0) goto done;
    if (dnsaudit_quic_tls(&c.q, alpn_id, address, verify_name, sni, ca_file, use_system_trust, &r->quic) != 0) goto done;
    ngtcp2_callbacks callbacks;
    dnsaudit_quic_callbacks(&callbacks);
    callbacks.recv_stream_data = h3_recv_stream_data_cb;
    callbacks.acked_stream_data_offset = h3_acked_cb;
    callbacks.stream_close = h3_stream_close_cb;
    callbacks.stream_reset = h3_stream_reset_cb;
    callbacks.extend_max_stream_data = h3_extend_max_stream_data_cb;
    ngtcp2_transport_params params;
    ngtcp2_transport_params_default(&params);
    params.initial_max_streams_uni = 3;  // the server's control and QPACK streams
    params.initial_max_streams_bidi = 0;
    params.initial_max_stream_data_bidi_local = 256 * 1024;
    params.initial_max_stream_data_uni = 64 * 1024;
    params.initial_max_data = 1024 * 1024;
    if (dnsaudit_quic_connect(&c.q, &callbacks, &params, timeout_ms, &c, &r->quic) != 0) goto done;

    for (;;) {
        if (c.q.handshake_completed && !handshake_only && !c.h3) {
            if (h3_start(&c, authority, path, r) != 0) goto done;
        }
        if (h3_write_packets(&c, r) != 0) goto done;
        if (h3_finished(&c)) break;
        if (c.stream_closed) {
            h3_fail(r, DNSAUDIT_DOQ_NO_ANSWER, "the request stream ended without a complete response%s", "");
            goto done;
        }
        int step = dnsaudit_quic_step(&c.q, &r->quic, h3_finished, &c, "the server's HTTP/3 is malformed",
                                      "handshake completed, no response in time");
        if (step < 0) goto done;
        if (step == 0) break;
    }

    if (handshake_only) {
        unsigned int n = 0;
        const gnutls_datum_t *certs = gnutls_certificate_get_peers(c.q.session, &n);
        size_t used = 0;
        for (unsigned int i = 0; certs && i < n && i < 16; i++) {
            if (certs[i].size == 0 || certs[i].size > 0xFFFFFF || certs[i].size + 3 > out_cap - used) break;
            out[used] = (uint8_t)(certs[i].size >> 16);
            out[used + 1] = (uint8_t)(certs[i].size >> 8);
            out[used + 2] = (uint8_t)certs[i].size;
            memcpy(out + used + 3, certs[i].data, certs[i].size);
            used += certs[i].size + 3;
            r->certificates++;
        }
        *out_len = used;
    } else {
        if (c.body_overflow) {
            h3_fail(r, DNSAUDIT_DOQ_NO_ANSWER, "response body larger than the buffer%s", "");
            goto done;
        }
        *out_len = c.body_len;
        r->http_status = c.http_status;
        memcpy(r->content_type, c.content_type, sizeof r->content_type);
    }
    r->quic.status = DNSAUDIT_DOQ_OK;
    r->quic.detail[0] = 0;
    {
        const uint64_t h3_no_error = NGHTTP3_H3_NO_ERROR;
        dnsaudit_quic_close(&c.q, c.h3 ? &h3_no_error : NULL);
    }

done:
    r->quic.handshake_completed = c.q.handshake_completed;
    if (c.h3) nghttp3_conn_del(c.h3);
    dnsaudit_quic_free(&c.q);
    return r->quic.status;
}

int dnsaudit_doh3_get(const char *address, int port, const char *verify_name, const char *sni, const char *ca_file,
                      int use_system_trust, const char *authority, const char *path, int timeout_ms, uint8_t *body,
                      size_t body_cap, size_t *body_len, dnsaudit_h3_result *result) {
    if (!authority) {
        memset(result, 0, sizeof *result);
        h3_fail(result, DNSAUDIT_DOQ_LOCAL_ERROR, "no authority%s", "");
        return result->quic.status;
    }
    return h3_run(address, port, verify_name, sni, ca_file, use_system_trust, "h3", authority, path, timeout_ms, body, body_cap,
                  body_len, result);
}

int dnsaudit_quic_peer_chain(const char *address, int port, const char *sni, const char *alpn, int timeout_ms, uint8_t *chain,
                             size_t chain_cap, size_t *chain_len, dnsaudit_h3_result *result) {
    return h3_run(address, port, NULL, sni, NULL, 0, alpn, NULL, NULL, timeout_ms, chain, chain_cap, chain_len, result);
}
