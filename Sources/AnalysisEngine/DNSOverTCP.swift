import FlowReassembly
import NetTypes
import PacketDecode

/// Splits one TCP stream direction into DNS messages (RFC 1035 §4.2.2: 2-byte length prefix).
/// Several messages per segment and messages over several segments both work; memory is
/// bounded by the largest possible message.
struct DNSLengthFramer {
    private var buffer: [UInt8] = []
    private(set) var lostSync = false

    /// Appends stream bytes and calls `emit` for every complete message.
    mutating func feed(_ bytes: UnsafeRawBufferPointer, emit: (UnsafeRawBufferPointer) -> Void) {
        guard !lostSync else { return }
        if buffer.isEmpty {
            // Fast path: parse directly out of the segment, buffer only the tail.
            var off = 0
            while bytes.count - off >= 2 {
                let len = Int(UInt16(bytes[off]) << 8 | UInt16(bytes[off + 1]))
                guard bytes.count - off - 2 >= len else { break }
                emit(UnsafeRawBufferPointer(rebasing: bytes[(off + 2)..<(off + 2 + len)]))
                off += 2 + len
            }
            if off < bytes.count { buffer.append(contentsOf: bytes[off...]) }
            return
        }
        buffer.append(contentsOf: bytes)
        var off = 0
        buffer.withUnsafeBytes { raw in
            while raw.count - off >= 2 {
                let len = Int(UInt16(raw[off]) << 8 | UInt16(raw[off + 1]))
                guard raw.count - off - 2 >= len else { break }
                emit(UnsafeRawBufferPointer(rebasing: raw[(off + 2)..<(off + 2 + len)]))
                off += 2 + len
            }
        }
        if off > 0 { buffer.removeFirst(off) }
    }

    /// Bytes were lost: the framing cannot be trusted any more.
    mutating func loseSync() {
        lostSync = true
        buffer = []
    }

    var pendingBytes: Int { buffer.count }
}
