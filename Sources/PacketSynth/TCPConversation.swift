// A TCP connection between a client and a server that keeps sequence and acknowledgement
// numbers (and per-side IPv4 IDs) straight while it emits frames.

import NetTypes

public struct TCPConversation: Sendable {
    public enum Side: Sendable, Hashable {
        case client, server

        public var other: Side { self == .client ? .server : .client }
    }

    public let clientAddress: IPAddress
    public let clientPort: UInt16
    public let serverAddress: IPAddress
    public let serverPort: UInt16
    /// Frames from client to server use this builder; the server's use its `reversed`.
    public var link: FrameBuilder
    /// Network fields of each side's packets. The IPv4 identification is incremented after
    /// every packet of that side when `incrementIPID` is set.
    public var clientIP: IPFields
    public var serverIP: IPFields
    public var incrementIPID: Bool
    /// The next sequence number each side will send.
    public private(set) var clientNextSeq: UInt32
    public private(set) var serverNextSeq: UInt32
    /// Largest payload per segment in `send`.
    public var segmentSize: Int
    public var clientWindow: UInt16
    public var serverWindow: UInt16
    /// The MSS option each side puts in its SYN (none when nil).
    public var clientMSS: UInt16?
    public var serverMSS: UInt16?

    public init(client: IPAddress, clientPort: UInt16, server: IPAddress, serverPort: UInt16,
                link: FrameBuilder = .rawIP, clientISN: UInt32 = 1_000, serverISN: UInt32 = 5_000,
                clientIP: IPFields = IPFields(), serverIP: IPFields = IPFields(),
                incrementIPID: Bool = true, segmentSize: Int = 1_448,
                clientWindow: UInt16 = 64_240, serverWindow: UInt16 = 65_160,
                clientMSS: UInt16? = 1_460, serverMSS: UInt16? = 1_460) {
        self.clientAddress = client
        self.clientPort = clientPort
        self.serverAddress = server
        self.serverPort = serverPort
        self.link = link
        self.clientIP = clientIP
        self.serverIP = serverIP
        self.incrementIPID = incrementIPID
        self.clientNextSeq = clientISN
        self.serverNextSeq = serverISN
        self.segmentSize = max(1, segmentSize)
        self.clientWindow = clientWindow
        self.serverWindow = serverWindow
        self.clientMSS = clientMSS
        self.serverMSS = serverMSS
    }

    /// The next sequence number `side` will send.
    public func nextSeq(_ side: Side) -> UInt32 { side == .client ? clientNextSeq : serverNextSeq }

    // MARK: Connection phases

    /// SYN, SYN-ACK, ACK.
    public mutating func handshake() -> [[UInt8]] {
        [syn(), synAck(), ack(from: .client)]
    }

    /// The client's SYN (consumes one sequence number).
    public mutating func syn() -> [UInt8] {
        let f = segment(from: .client, seq: clientNextSeq, ack: 0, flags: .syn,
                        options: clientMSS.map { [.mss($0)] } ?? [])
        clientNextSeq &+= 1
        return f
    }

    /// The server's SYN-ACK (consumes one sequence number).
    public mutating func synAck() -> [UInt8] {
        let f = segment(from: .server, seq: serverNextSeq, ack: clientNextSeq, flags: [.syn, .ack],
                        options: serverMSS.map { [.mss($0)] } ?? [])
        serverNextSeq &+= 1
        return f
    }

    /// A bare ACK of everything the other side has sent.
    public mutating func ack(from side: Side) -> [UInt8] {
        segment(from: side, seq: nextSeq(side), ack: nextSeq(side.other), flags: .ack)
    }

    /// `payload` from `side`, cut into segments of at most `segmentSize` (default: the
    /// conversation's); PSH is set on the last one.
    public mutating func send(_ payload: [UInt8], from side: Side, segmentSize: Int? = nil) -> [[UInt8]] {
        let size = max(1, segmentSize ?? self.segmentSize)
        return send(payload, from: side, cutBy: { _ in size })
    }

    /// `payload` from `side`, cut at the given byte lengths (the rest, if any, in one last segment).
    public mutating func send(_ payload: [UInt8], from side: Side, splitAt lengths: [Int]) -> [[UInt8]] {
        var cuts = lengths.filter { $0 > 0 }
        return send(payload, from: side, cutBy: { rest in cuts.isEmpty ? rest : cuts.removeFirst() })
    }

    /// The one segmenter: `nextSize(bytesLeft)` gives each segment's length; PSH on the last one.
    private mutating func send(_ payload: [UInt8], from side: Side, cutBy nextSize: (Int) -> Int) -> [[UInt8]] {
        var frames: [[UInt8]] = []
        var start = 0
        while start < payload.count {
            let end = min(start + max(1, nextSize(payload.count - start)), payload.count)
            let flags: TCPFlags = end == payload.count ? [.psh, .ack] : .ack
            frames.append(segment(from: side, seq: nextSeq(side), ack: nextSeq(side.other), flags: flags,
                                  payload: Array(payload[start..<end])))
            advance(side, by: end - start)
            start = end
        }
        return frames
    }

    /// FIN-ACK from `side` (consumes one sequence number).
    public mutating func fin(from side: Side) -> [UInt8] {
        let f = segment(from: side, seq: nextSeq(side), ack: nextSeq(side.other), flags: [.fin, .ack])
        advance(side, by: 1)
        return f
    }

    /// The usual close: FIN-ACK from `initiator`, FIN-ACK back, final ACK.
    public mutating func close(initiator: Side = .client) -> [[UInt8]] {
        [fin(from: initiator), fin(from: initiator.other), ack(from: initiator)]
    }

    /// A reset from `side` (RST+ACK when `withAck`, else a bare RST).
    public mutating func reset(from side: Side, withAck: Bool = true) -> [UInt8] {
        segment(from: side, seq: nextSeq(side), ack: withAck ? nextSeq(side.other) : 0,
                flags: withAck ? [.rst, .ack] : .rst)
    }

    /// Any segment from `side`, without touching sequence state (retransmissions, odd flags).
    /// It does take the side's next IPv4 ID.
    public mutating func segment(from side: Side, seq: UInt32, ack: UInt32, flags: TCPFlags,
                                 options: [TCPOption] = [], payload: [UInt8] = []) -> [UInt8] {
        let frame: [UInt8]
        switch side {
        case .client:
            frame = link.tcp(from: clientAddress, clientPort, to: serverAddress, serverPort, seq: seq, ack: ack,
                             flags: flags, window: clientWindow, options: options, payload: payload, ip: clientIP)
            if incrementIPID { clientIP.identification &+= 1 }
        case .server:
            frame = link.reversed.tcp(from: serverAddress, serverPort, to: clientAddress, clientPort, seq: seq,
                                      ack: ack, flags: flags, window: serverWindow, options: options,
                                      payload: payload, ip: serverIP)
            if incrementIPID { serverIP.identification &+= 1 }
        }
        return frame
    }

    /// Moves `side`'s sequence number on without emitting anything (e.g. for data "lost" on purpose).
    public mutating func advance(_ side: Side, by count: Int) {
        let n = UInt32(truncatingIfNeeded: count)
        switch side {
        case .client: clientNextSeq &+= n
        case .server: serverNextSeq &+= n
        }
    }
}
