// Shared pieces of the generator: hosts with IP ID counters, a timeline for small scripted
// captures, and a min-heap for the streaming mix.

import NetTypes
import PacketSynth
import PcapWriter

/// 2026-01-15T09:00:00Z, where every generated capture starts.
let captureEpochSeconds: Int64 = 1_768_467_600

/// A host as seen on the capture link: its address, the MAC its frames carry on this link
/// (the router's for remote hosts), the IP TTL / hop limit its packets arrive with, and its
/// IPv4 identification counter.
final class Node {
    let ip: IPAddress
    let mac: MACAddress
    var ttl: UInt8
    var ipID: UInt16
    var ipIDStep: UInt16
    var dontFragment: Bool

    init(_ ip: IPAddress, mac: MACAddress, ttl: UInt8, ipID: UInt16, ipIDStep: UInt16 = 1, dontFragment: Bool = true) {
        self.ip = ip
        self.mac = mac
        self.ttl = ttl
        self.ipID = ipID
        self.ipIDStep = ipIDStep
        self.dontFragment = dontFragment
    }

    /// The network fields for this host's next packet (advances its IP ID).
    func nextFields() -> IPFields {
        let f = IPFields(ttl: ttl, identification: ipID, dontFragment: dontFragment)
        ipID &+= ipIDStep
        return f
    }

    /// The link builder for frames from this host to `to`.
    func link(to other: Node) -> FrameBuilder {
        .ethernet(source: mac, destination: other.mac)
    }

    func udp(_ sport: UInt16, to other: Node, _ dport: UInt16, _ payload: [UInt8], fields: IPFields? = nil) -> [UInt8] {
        link(to: other).udp(from: ip, sport, to: other.ip, dport, payload: payload, ip: fields ?? nextFields())
    }

    /// A TCP conversation with this host as the client; its IP ID counters continue from both nodes.
    func tcp(_ sport: UInt16, to server: Node, _ dport: UInt16, clientISN: UInt32, serverISN: UInt32,
             segmentSize: Int = 1_448) -> TCPConversation {
        TCPConversation(client: ip, clientPort: sport, server: server.ip, serverPort: dport, link: link(to: server),
                        clientISN: clientISN, serverISN: serverISN,
                        clientIP: IPFields(ttl: ttl, identification: ipID, dontFragment: dontFragment),
                        serverIP: IPFields(ttl: server.ttl, identification: server.ipID, dontFragment: server.dontFragment),
                        segmentSize: segmentSize)
    }

    /// Takes the IP ID counters back after a conversation is done.
    func sync(client conv: TCPConversation, server: Node) {
        ipID = conv.clientIP.identification
        server.ipID = conv.serverIP.identification
    }
}

/// A small scripted capture: frames at given offsets (microseconds after the capture epoch), with
/// optional labels used to cite frame numbers in the README.
struct Timeline {
    struct Event {
        var micros: Int64
        var order: Int
        var frame: [UInt8]
        var label: String?
    }

    private(set) var events: [Event] = []

    /// Adds `frame` at `ms` milliseconds (kept to the microsecond).
    mutating func at(_ ms: Double, _ frame: [UInt8], _ label: String? = nil) {
        events.append(Event(micros: Int64((ms * 1_000).rounded()), order: events.count, frame: frame, label: label))
    }

    /// Adds several frames `gapMs` apart starting at `ms`; returns the time after the last one.
    @discardableResult
    mutating func at(_ ms: Double, _ frames: [[UInt8]], gapMs: Double = 0.05, label: String? = nil) -> Double {
        var t = ms
        for (i, f) in frames.enumerated() {
            at(t, f, i == 0 ? label : nil)
            t += gapMs
        }
        return t
    }

    /// Writes the capture in time order; returns packet count, file size, and label → 1-based frame number.
    func write(to path: String) throws -> (packets: Int, bytes: Int, labels: [String: Int]) {
        let sorted = events.sorted { ($0.micros, $0.order) < ($1.micros, $1.order) }
        let writer = try PcapFileWriter(path: path, linkType: .ethernet)
        var labels: [String: Int] = [:]
        for (i, e) in sorted.enumerated() {
            try writer.write(seconds: captureEpochSeconds + e.micros / 1_000_000,
                             nanoseconds: UInt32(e.micros % 1_000_000) * 1_000, frame: e.frame)
            if let l = e.label { labels[l] = i + 1 }
        }
        try writer.close()
        return (writer.packetsWritten, writer.bytesWritten, labels)
    }
}

/// A binary min-heap.
struct MinHeap<Element: Comparable> {
    private var items: [Element] = []

    var count: Int { items.count }
    var isEmpty: Bool { items.isEmpty }
    var first: Element? { items.first }

    mutating func push(_ e: Element) {
        items.append(e)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[i] < items[parent] else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> Element? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var i = 0
        let n = items.count
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < n && items[l] < items[m] { m = l }
            if r < n && items[r] < items[m] { m = r }
            if m == i { break }
            items.swapAt(i, m)
            i = m
        }
        return top
    }
}

/// A plain error whose description is the one line printed to the user.
struct GenError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
