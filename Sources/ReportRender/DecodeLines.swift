import AnalysisEvents
import NetTypes

/// `dnsaudit decode`: one JSON object per DNS message and per TLS hello, in capture order.
public enum DecodeLineRenderer {
    public static func line(_ event: DecodeEvent, inputName: String? = nil) -> String {
        var w = JSONWriter(reserving: 512)
        write(event, inputName: inputName, into: &w)
        return w.output
    }

    /// Appends the line of `event` and its newline to `w`'s buffer (decode's hot path: one
    /// writer, reused across lines, handed to the output in large batches).
    public static func append(_ event: DecodeEvent, inputName: String? = nil, to w: inout JSONWriter) {
        write(event, inputName: inputName, into: &w)
        w.endLine()
    }

    static func write(_ event: DecodeEvent, inputName: String?, into w: inout JSONWriter) {
        w.object { w in
            switch event {
            case .dns(let c, let flavor, let m):
                head(c, inputName, &w)
                w.field("proto", flavor.rawValue)
                w.key("dns"); writeDNSObject(m, into: &w)
            case .dnsError(let c, let flavor, let error):
                head(c, inputName, &w)
                w.field("proto", flavor.rawValue)
                w.key("dns"); w.null()
                w.field("error", error)
            case .tlsClientHello(let c, let ch, let transport):
                head(c, inputName, &w)
                w.key("tls"); writeTLSClientHelloObject(ch, transport: transport, into: &w)
            case .tlsServerHello(let c, let sh):
                head(c, inputName, &w)
                w.key("tls"); writeTLSServerHelloObject(sh, into: &w)
            }
        }
    }

    static func head(_ c: WireContext, _ inputName: String?, _ w: inout JSONWriter) {
        if let n = inputName { w.field("input", n) }
        w.field("frame", c.frame)
        w.field("ts", c.ts)
        w.field("src", c.src)
        w.field("dst", c.dst)
        w.field("sport", c.sport)
        w.field("dport", c.dport)
        w.field("transport", c.overDoH ? "doh" : c.transport.name)
    }
}
