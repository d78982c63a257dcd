// DNS over QUIC client exchange: ngtcp2 (QUIC) + GnuTLS (TLS 1.3) from Debian, over one
// connected UDP socket. See include/dnsaudit_doq.h; the QUIC steps shared with h3.c: quic_common.h.
#define _GNU_SOURCE
#include "dnsaudit_doq.h"
#include "quic_common.h"

#include <stdlib.h>
#include <string.h>

typedef struct client {
    dnsaudit_quic q;  // first: ngtcp2's user_data is the client
    int64_t stream_id;
    const uint8_t *out;  // 2-byte length + query
    size_t out_len;
    size_t out_sent;
    uint8_t *in;  // 2-byte length + answer, as received
    size_t in_cap;
    size_t in_len;
    int in_overflow;
    int stream_fin;
    int stream_closed;
} client;

static int recv_stream_data_cb(ngtcp2_conn *conn, uint32_t flags, int64_t stream_id, uint64_t offset, const uint8_t *data,
                               size_t datalen, void *user_data, void *stream_user_data) {
    (void)offset;
    (void)stream_user_data;
    client *c = user_data;
    if (stream_id == c->stream_id) {
        if (datalen > c->in_cap - c->in_len) {
            c->in_overflow = 1;
        } else {
            memcpy(c->in + c->in_len, data, datalen);
            c->in_len += datalen;
        }
        if (flags & NGTCP2_STREAM_DATA_FLAG_FIN) c->stream_fin = 1;
    }
    ngtcp2_conn_extend_max_stream_offset(conn, stream_id, datalen);
    ngtcp2_conn_extend_max_offset(conn, datalen);
    return 0;
}

static int stream_close_cb(ngtcp2_conn *conn, uint32_t flags, int64_t stream_id, uint64_t app_error_code, void *user_data,
                           void *stream_user_data) {
    (void)conn;
    (void)flags;
    (void)app_error_code;
    (void)stream_user_data;
    client *c = user_data;
    if (stream_id == c->stream_id) c->stream_closed = 1;
    return 0;
}

static int answer_complete(const client *c) {
    if (c->in_len < 2) return 0;
    size_t need = ((size_t)c->in[0] << 8 | c->in[1]) + 2;
    return c->in_len >= need;
}

static int finished(const void *c) { return answer_complete(c); }

/// Sends what ngtcp2 has to send (handshake, query, acknowledgements). Returns 0, or -1 with `r` set.
static int write_packets(client *c, dnsaudit_doq_result *r) {
    uint8_t buf[1500];
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    for (;;) {
        ngtcp2_ssize consumed = -1;
        int64_t sid = -1;
        const uint8_t *data = NULL;
        size_t len = 0;
        uint32_t flags = 0;
        if (c->stream_id >= 0 && c->out_sent < c->out_len) {
            sid = c->stream_id;
            data = c->out + c->out_sent;
            len = c->out_len - c->out_sent;
            flags = NGTCP2_WRITE_STREAM_FLAG_FIN;
        }
        ngtcp2_pkt_info pi;
        ngtcp2_ssize n =
            ngtcp2_conn_write_stream(c->q.conn, &ps.path, &pi, buf, sizeof buf, &consumed, flags, sid, data, len, dnsaudit_quic_now());
        if (n < 0) {
            if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED || n == NGTCP2_ERR_STREAM_SHUT_WR) return 0;
            return dnsaudit_quic_write_failure(&c->q, n, r);
        }
        if (consumed > 0) c->out_sent += (size_t)consumed;
        if (n == 0) return 0;
        int sent = dnsaudit_quic_send(&c->q, buf, (size_t)n, r);
        if (sent <= 0) return sent;
    }
}

int dnsaudit_doq_exchange(const char *address, int port, const char *verify_name, const char *sni, const char *ca_file,
                          int use_system_trust, const uint8_t *query, size_t query_len, int timeout_ms, uint8_t *answer,
                          size_t answer_cap, dnsaudit_doq_result *r) {
    memset(r, 0, sizeof *r);
    r->status = DNSAUDIT_DOQ_LOCAL_ERROR;
    if (!address || !query || query_len < 12 || query_len > 65535 || !answer || port <= 0 || port > 65535) {
        dnsaudit_quic_fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "bad arguments%s", "");
        return r->status;
    }
    if (timeout_ms < 100) timeout_ms = 100;

    client c;
    memset(&c, 0, sizeof c);
    dnsaudit_quic_init(&c.q, 1);
    c.stream_id = -1;
    c.in_cap = answer_cap + 2;
    c.in = malloc(c.in_cap);
    uint8_t *out = malloc(query_len + 2);
    if (!c.in || !out) {
        dnsaudit_quic_fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "out of memory%s", "");
        goto done;
    }
    out[0] = (uint8_t)(query_len >> 8);
    out[1] = (uint8_t)query_len;
    memcpy(out + 2, query, query_len);
    out[2] = 0;  // RFC 9250 §4.2.1: the DNS Message ID is 0
    out[3] = 0;
    c.out = out;
    c.out_len = query_len + 2;

    // The socket, TLS (trust roots, the name to verify, ALPN "doq"), QUIC: one bidirectional stream.
    if (dnsaudit_quic_open_socket(&c.q, address, port, r) != 0) goto done;
    if (dnsaudit_quic_tls(&c.q, "doq", address, verify_name, sni, ca_file, use_system_trust, r) != 0) goto done;
    ngtcp2_callbacks callbacks;
    dnsaudit_quic_callbacks(&callbacks);
    callbacks.recv_stream_data = recv_stream_data_cb;
    callbacks.stream_close = stream_close_cb;
    ngtcp2_transport_params params;
    ngtcp2_transport_params_default(&params);
    params.initial_max_streams_uni = 0;
    params.initial_max_streams_bidi = 0;
    params.initial_max_stream_data_bidi_local = 128 * 1024;
    params.initial_max_data = 1024 * 1024;
    if (dnsaudit_quic_connect(&c.q, &callbacks, &params, timeout_ms, &c, r) != 0) goto done;

    for (;;) {
        if (c.q.handshake_completed && c.stream_id < 0) {
            int rv = ngtcp2_conn_open_bidi_stream(c.q.conn, &c.stream_id, NULL);
            if (rv != 0 && rv != NGTCP2_ERR_STREAM_ID_BLOCKED) {
                dnsaudit_quic_fail(r, DNSAUDIT_DOQ_NO_ANSWER, "cannot open a stream: %s", ngtcp2_strerror(rv));
                goto done;
            }
        }
        if (write_packets(&c, r) != 0) goto done;
        if (answer_complete(&c) || c.in_overflow) break;
        if (c.stream_closed || c.stream_fin) {
            dnsaudit_quic_fail(r, DNSAUDIT_DOQ_NO_ANSWER, "the stream ended without a complete answer%s", "");
            goto done;
        }
        int step = dnsaudit_quic_step(&c.q, r, finished, &c, NULL, "handshake completed, no answer in time");
        if (step < 0) goto done;
        if (step == 0) break;
    }

    r->handshake_completed = c.q.handshake_completed;
    if (c.in_overflow || !answer_complete(&c)) {
        dnsaudit_quic_fail(r, DNSAUDIT_DOQ_NO_ANSWER, "answer larger than the buffer%s", "");
        goto done;
    }
    {
        size_t len = (size_t)c.in[0] << 8 | c.in[1];
        memcpy(answer, c.in + 2, len);
        r->answer_len = len;
        r->status = DNSAUDIT_DOQ_OK;
        r->detail[0] = 0;
    }
    // Close politely (best effort): one CONNECTION_CLOSE with NO_ERROR.
    dnsaudit_quic_close(&c.q, NULL);

done:
    r->handshake_completed = c.q.handshake_completed;
    dnsaudit_quic_free(&c.q);
    free(c.in);
    free(out);
    return r->status;
}
