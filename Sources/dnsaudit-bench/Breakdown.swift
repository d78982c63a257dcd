// `dnsaudit-bench --breakdown`: where analyze's time goes, by kind of traffic.
//
// Each kind's cost is the CPU time analyze saves when libpcap's BPF filter drops that kind before
// it is decoded, against a run whose filter has the same shape and drops nothing; a filter that
// drops everything leaves the floor (start-up, libpcap's reading and the filter itself). The
// configurations' runs are interleaved round by round, and medians are printed, so that a
// shared machine's drift hits all of them alike.
import ArgumentParser
import CaptureSource
import Foundation

enum Breakdown {
    /// A kind of traffic: its name and the BPF expression that selects it.
    static let kinds: [(name: String, filter: String)] = [
        ("DNS over UDP", "udp port 53"),
        ("DNS over TCP", "tcp port 53"),
        ("TLS on TCP 443", "tcp port 443"),
        ("QUIC on UDP 443", "udp port 443"),
        ("HTTP on TCP 80", "tcp port 80"),
    ]
    /// Selects nothing in a capture that has no traffic on this port (the mix has none).
    static let nothing = "udp port 4443"

    static func run(capture path: String, analyzer dnsaudit: String, rounds: Int) throws {
        print("\n== where the time goes in \(path) (CPU time, medians of \(max(1, rounds)) interleaved rounds)")
        let total = try count(path, filter: nil)
        let unfiltered = try count(path, filter: nothing)
        if unfiltered > 0 {
            print("  note: \(unfiltered) packets match \"\(nothing)\", the filter meant to select none: the floor below "
                  + "includes their analysis, and the all-traffic run drops them")
        }
        let configs = [("not " + nothing)] + kinds.map { "not (\($0.filter))" } + [nothing]
        var cpu = [[Double]](repeating: [], count: configs.count)
        for _ in 0..<max(1, rounds) {
            for (i, f) in configs.enumerated() {
                let r = try runAnalyze(dnsaudit, path, filter: f)
                cpu[i].append(r.userSeconds + r.systemSeconds)
            }
        }
        let base = median(cpu[0])
        print(String(format: "  all traffic (filter \"%@\"): %.1f ms for %d packets", configs[0], base * 1e3, total))
        for (i, kind) in kinds.enumerated() {
            let n = try count(path, filter: kind.filter)
            let saved = base - median(cpu[i + 1])
            let perPacket = n > 0 ? String(format: "%6.0f ns/packet", saved / Double(n) * 1e9) : "     - ns/packet"
            print(String(format: "  %@ %8d packets  %7.1f ms  %@", kind.name.padding(toLength: 16, withPad: " ", startingAt: 0),
                         n, saved * 1e3, perPacket))
        }
        let floor = median(cpu[configs.count - 1])
        print(String(format: "  floor (filter \"%@\" drops every packet: start-up, libpcap's reading, the filter): %.1f ms",
                     nothing, floor * 1e3))
        // Not a remainder: each kind's figure includes decoding its own packets and the cache misses it
        // causes the others, so the kinds' sum need not equal all traffic less the floor.
        let sum = (1..<(configs.count - 1)).reduce(0.0) { $0 + base - median(cpu[$1]) }
        print(String(format: "  sum of the kinds: %.1f ms; all traffic less the floor: %.1f ms", sum * 1e3, (base - floor) * 1e3))
    }

    /// Packets in `path` that `filter` selects (all with nil).
    static func count(_ path: String, filter: String?) throws -> Int {
        let reader = try PcapFileReader(path: path, filter: filter)
        var n = 0
        reader.forEachFrame { _ in
            n += 1
            return true
        }
        return n
    }
}
