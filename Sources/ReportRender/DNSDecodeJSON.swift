import DNSWire
import WireBytes

/// Write the value of the `"dns"` key of a `dnsaudit decode` line (CONTRACT.md
/// "`dnsaudit decode` lines"): header fields, flags, counts, the four sections with RDATA in
/// presentation format, EDNS (when present) and anomaly codes (when any).
public func writeDNSObject(_ m: DNSMessage, into w: inout JSONWriter) {
    w.object { w in
        w.field("id", m.id)
        w.field("qr", m.qr)
        w.field("opcode", m.opcode)
        w.field("rcode", m.rcode)
        w.field("rcode_name", DNSRCode.name(m.rcode))
        w.key("flags")
        w.beginArray()
        if m.aa { w.string("aa") }
        if m.tc { w.string("tc") }
        if m.rd { w.string("rd") }
        if m.ra { w.string("ra") }
        if m.ad { w.string("ad") }
        if m.cd { w.string("cd") }
        w.endArray()
        w.key("counts")
        w.object { w in
            w.field("qd", m.counts.qd)
            w.field("an", m.counts.an)
            w.field("ns", m.counts.ns)
            w.field("ar", m.counts.ar)
        }
        if m.truncated { w.field("truncated", true) }
        writeQuestions("questions", m.questions, unicastFlag: true, &w)
        writeRRs("answers", m.answers, &w)
        writeRRs("authority", m.authority, &w)
        writeRRs("additional", m.additional, &w)
        if m.opcode == 5 {
            // DNS UPDATE (RFC 2136 §2.2): the same four sections under their UPDATE names, after
            // the generic ones (which stay, for readers of every opcode).
            w.field("opcode_name", "UPDATE")
            writeQuestions("zone", m.questions, unicastFlag: false, &w)
            writeRRs("prerequisite", m.answers, &w)
            writeRRs("update", m.authority, &w)
        }
        if let e = m.edns {
            w.key("edns")
            w.object { w in
                w.field("udp_size", e.udpSize)
                w.field("version", e.version)
                w.field("do", e.dnssecOK)
                w.field("extended_rcode", e.extendedRCode)
                w.key("options")
                w.array { w in
                    for o in e.options { writeEDNSOption(o, &w) }
                }
            }
        }
        if !m.anomalies.isEmpty {
            var codes: [String] = []
            for a in m.anomalies where !codes.contains(a.code) { codes.append(a.code) }
            w.field("anomalies", strings: codes)
        }
    }
}

/// Questions (or an UPDATE's zone section): name, type, class; `unicastFlag` adds mDNS's QU bit.
private func writeQuestions(_ key: String, _ questions: [DNSQuestion], unicastFlag: Bool, _ w: inout JSONWriter) {
    w.key(key)
    w.array { w in
        for q in questions {
            w.object { w in
                w.field("name", q.name)
                w.field("type", DNSType.mnemonic(q.type))
                w.field("class", DNSClass.mnemonic(q.qclass))
                if unicastFlag && q.unicastResponse { w.field("unicast_response", true) }
            }
        }
    }
}

private func writeRRs(_ key: String, _ rrs: [DNSResourceRecord], _ w: inout JSONWriter) {
    w.key(key)
    w.array { w in
        for r in rrs {
            w.object { w in
                w.field("name", r.name)
                w.field("type", DNSType.mnemonic(r.type))
                w.field("class", DNSClass.mnemonic(r.rrclass))
                w.field("ttl", r.ttl)
                w.field("data", r.rdata.presentation)
                if r.cacheFlush { w.field("cache_flush", true) }
            }
        }
    }
}

private func writeEDNSOption(_ o: EDNSOption, _ w: inout JSONWriter) {
    w.object { w in
        w.field("code", o.code)
        if let name = EDNSOptionCode.name(o.code) { w.field("name", name) }
        switch o {
        case .ecs(let family, let source, let scope, let address):
            w.field("family", family)
            w.field("source_prefix", source)
            w.field("scope_prefix", scope)
            w.field("address", address)
        case .cookie(let client, let server):
            w.field("client", hexString(client))
            if let s = server { w.field("server", hexString(s)) }
        case .nsid(let bytes):
            w.field("hex", hexString(bytes))
            w.field("text", EDNSOption.printable(bytes))
        case .padding(let length):
            w.field("length", length)
        case .extendedError(let code, let text):
            w.field("info_code", code)
            w.field("info", DNSExtendedError.name(code))
            w.field("extra_text", text)
        case .other(_, let data):
            w.field("hex", hexString(data))
        }
    }
}
