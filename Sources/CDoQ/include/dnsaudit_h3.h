// DNS over HTTPS over HTTP/3 (RFC 8484 over RFC 9114): ngtcp2 + GnuTLS + nghttp3 client, one GET
// on one request stream; and a QUIC handshake alone (any ALPN) that hands back the server's
// certificate chain, for DDR verification of `doq` and `h3` designations.
// Blocking, bounded by a timeout: call them from a thread of their own. Statuses: dnsaudit_doq.h.
#ifndef DNSAUDIT_H3_H
#define DNSAUDIT_H3_H

#include <stddef.h>
#include <stdint.h>

#include "dnsaudit_doq.h"

typedef struct dnsaudit_h3_result {
    /// The QUIC/TLS outcome, classified as for DoQ (DNSAUDIT_DOQ_*). DNSAUDIT_DOQ_OK: a complete
    /// HTTP response arrived (whatever its status: the caller judges `http_status`).
    dnsaudit_doq_result quic;
    /// The response's :status (0: none).
    int http_status;
    /// The response's content-type (truncated, NUL-terminated; "" when absent).
    char content_type[96];
    /// Handshake-only mode: the number of certificates written to the chain buffer.
    int certificates;
} dnsaudit_h3_result;

/// One RFC 8484 GET over HTTP/3 (ALPN "h3"). `address` is an IP literal; `verify_name` the name
/// (or IP literal) the certificate must carry (NULL: `address`); `sni` (NULL: none). `ca_file` adds
/// trust roots. `authority` is the :authority, `path` the :path (with `?dns=`). The body goes to
/// `body` (at most `body_cap` bytes; a larger body is DNSAUDIT_DOQ_NO_ANSWER). Returns the status.
int dnsaudit_doh3_get(const char *address, int port, const char *verify_name, const char *sni, const char *ca_file,
                      int use_system_trust, const char *authority, const char *path, int timeout_ms, uint8_t *body,
                      size_t body_cap, size_t *body_len, dnsaudit_h3_result *result);

/// A QUIC handshake with ALPN `alpn` ("doq", "h3"), no certificate verification: the server's chain
/// goes to `chain` as records of a 3-byte big-endian length and the DER bytes, leaf first (at most
/// `chain_cap` bytes; certificates that do not fit are left out). `sni` may be NULL.
int dnsaudit_quic_peer_chain(const char *address, int port, const char *sni, const char *alpn, int timeout_ms,
                             uint8_t *chain, size_t chain_cap, size_t *chain_len, dnsaudit_h3_result *result);

#endif
