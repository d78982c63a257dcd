/// A fixed-size ring of bytes for keeping recent messages without one allocation each.
///
/// `store` returns a reference; `fetch` gives the bytes back as long as no more than
/// `capacity` bytes were stored since (older references simply expire).
final class ByteArena {
    struct Ref {
        var start: Int  // absolute position (bytes ever stored before it)
        var count: Int
        static let none = Ref(start: -1, count: 0)
    }

    /// Allocated on first use and never zero-filled: pages are touched only as the ring reaches them.
    private var storage: UnsafeMutableRawPointer?
    private var written = 0  // absolute write position
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    deinit { storage?.deallocate() }

    func store(_ bytes: UnsafeRawBufferPointer) -> Ref {
        guard let src = bytes.baseAddress, bytes.count > 0, bytes.count <= capacity / 4 else { return .none }
        var pos = written % capacity
        if pos + bytes.count > capacity {
            // Do not wrap a message: skip the tail and start at the beginning.
            written += capacity - pos
            pos = 0
        }
        let ring: UnsafeMutableRawPointer
        if let existing = storage {
            ring = existing
        } else {
            ring = .allocate(byteCount: capacity, alignment: 16)
            storage = ring
        }
        (ring + pos).copyMemory(from: src, byteCount: bytes.count)
        let ref = Ref(start: written, count: bytes.count)
        written += bytes.count
        return ref
    }

    /// The stored bytes, or nil when they have been overwritten since.
    func fetch(_ ref: Ref) -> [UInt8]? {
        guard ref.start >= 0, written - ref.start <= capacity else { return nil }
        let pos = ref.start % capacity
        guard let storage else { return nil }
        return Array(UnsafeRawBufferPointer(start: storage + pos, count: ref.count))
    }
}
