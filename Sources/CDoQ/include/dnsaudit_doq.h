// One DNS-over-QUIC (RFC 9250) exchange: ngtcp2 + GnuTLS client handshake over a connected UDP
// socket, ALPN "doq", one query on a bidirectional stream, the answer or a classified failure.
// Blocking, bounded by a timeout: call it from a thread of its own.
#ifndef DNSAUDIT_DOQ_H
#define DNSAUDIT_DOQ_H

#include <stddef.h>
#include <stdint.h>

enum dnsaudit_doq_status {
    DNSAUDIT_DOQ_OK = 0,
    /// Nothing came back before the timeout (no packet at all from the server).
    DNSAUDIT_DOQ_TIMEOUT_SILENT = 1,
    /// Packets came back, but the handshake or the answer did not finish in time.
    DNSAUDIT_DOQ_TIMEOUT_PARTIAL = 2,
    /// ICMP port unreachable (ECONNREFUSED on the connected socket).
    DNSAUDIT_DOQ_REFUSED = 3,
    /// ICMP host/network unreachable (EHOSTUNREACH, ENETUNREACH).
    DNSAUDIT_DOQ_UNREACHABLE = 4,
    /// The TLS handshake failed (alert, no common ALPN, closed by the peer during the handshake).
    DNSAUDIT_DOQ_HANDSHAKE_FAILED = 5,
    /// The server's certificate is not trusted (chain, name or address).
    DNSAUDIT_DOQ_CERT_UNTRUSTED = 6,
    /// The handshake completed, but the stream was reset, or the connection closed before the answer.
    DNSAUDIT_DOQ_NO_ANSWER = 7,
    /// A local problem (bad address, socket, memory, GnuTLS set-up).
    DNSAUDIT_DOQ_LOCAL_ERROR = 8,
    /// This host's own firewall refused to send (EPERM / EACCES from send).
    DNSAUDIT_DOQ_BLOCKED_LOCALLY = 9,
    /// Datagrams came back, but none carried the server's QUIC handshake: something else listens.
    DNSAUDIT_DOQ_NOT_QUIC = 10,
};

typedef struct dnsaudit_doq_result {
    int status;
    int handshake_completed;
    int packets_received;
    int sys_errno;
    unsigned int verify_status;
    int tls_alert;
    size_t answer_len;
    char detail[256];
} dnsaudit_doq_result;

/// `address` is an IP literal; `verify_name` is the name (or IP literal) the certificate must
/// carry (NULL: `address`); `sni` (NULL: none, never an IP). `ca_file` adds trust roots (PEM) to
/// the system's. `query` is the DNS message (its id is sent as 0, as RFC 9250 requires; the
/// caller restores it). Returns `status`; the answer (without the 2-byte length) goes to `answer`.
int dnsaudit_doq_exchange(const char *address, int port, const char *verify_name, const char *sni,
                          const char *ca_file, int use_system_trust, const uint8_t *query, size_t query_len,
                          int timeout_ms, uint8_t *answer, size_t answer_cap, dnsaudit_doq_result *result);

#endif
