import AnalysisEngine
import CaptureSource
import NetTypes
import PacketDecode

#if canImport(Glibc)
import Glibc
#endif

/// Flow-sharded analysis of capture files: one reader thread (libpcap) hands frames to N worker
/// threads, each owning a `CaptureAnalyzer` (its own tables and detectors), by a symmetric hash of
/// the client and server addresses (the inner ones for tunnelled traffic). Both directions of a
/// flow, every TCP segment and every IP fragment of it, and every flow between the same two
/// hosts go to the same worker. Frames cross threads in batches: one copy into a batch's byte
/// arena, no allocation per packet; batches are recycled through a bounded pool per worker, so
/// a slow worker holds the reader back instead of memory growing.
public enum ShardedDriver {
    /// Frames per batch, and the batch arena's size (a batch is handed over when either is full).
    static let framesPerBatch = 512
    static let arenaBytes = 1 << 20
    /// Batches in circulation per worker (being filled, queued, being analysed).
    static let batchesPerWorker = 8

    /// Runs every reader's frames through `threads` workers (threads ≥ 2) and returns their cores
    /// merged. `makeCore` builds one worker's core (same options for all).
    public static func run(_ readers: [PcapFileReader], threads: Int, makeCore: () -> CaptureAnalyzer,
                           progress: ((ProgressSnapshot) -> Void)? = nil) -> MergedAnalysis {
        let n = max(1, threads)
        let workers = (0..<n).map { _ in
            let core = makeCore()
            core.prepareAsShardWorker()
            return Worker(core: core)
        }
        for w in workers { w.start() }
        var filling = workers.map { $0.takeFree() }
        for reader in readers {
            let name = reader.path == "-" ? "stdin" : reader.path
            let link = LinkType(dlt: reader.linkType)
            for w in workers { w.submit(.begin(name, link)) }
            var facts = InputResult(name: name, linkType: link)
            let started = monotonicSeconds()
            var nextProgress = 0
            let end = reader.forEachFrame { f in
                let ts = Timestamp(seconds: f.seconds, nanoseconds: f.nanoseconds)
                if facts.first == nil { facts.first = ts }
                facts.last = ts
                facts.packets += 1
                facts.bytes += f.captureLength
                let i = n == 1 ? 0 : Int(flowHash(f.data, link: link) % UInt64(n))
                if !filling[i].append(f) {
                    workers[i].submit(.batch(filling[i]))
                    filling[i] = workers[i].takeFree()
                    _ = filling[i].append(f)
                }
                if let progress, facts.packets >= nextProgress {
                    nextProgress = facts.packets + 65_536
                    progress(ProgressSnapshot(input: name, bytesRead: reader.bytePosition, bytesTotal: reader.fileSize,
                                              packets: facts.packets, elapsedSeconds: monotonicSeconds() - started))
                }
                return true
            }
            facts.end = InputEnd(end)
            for (i, w) in workers.enumerated() where filling[i].count > 0 {
                w.submit(.batch(filling[i]))
                filling[i] = w.takeFree()
            }
            for w in workers { w.submit(.end(facts)) }
        }
        for w in workers { w.submit(.stop) }
        for w in workers { w.join() }
        return MergedAnalysis(cores: workers.map(\.core))
    }

    /// Symmetric in source and destination: both directions of a flow hash the same. Addresses
    /// only (no ports), so that an IP fragment without its transport header, and every flow
    /// between two hosts (a client's queries from many ports to its resolver), go to one worker.
    /// Tunnelled traffic goes by its outer addresses (the tunnel's endpoints): an outer IP
    /// fragment of a tunnel packet shows only those, and must meet the rest of its datagram and
    /// the inner flow's other packets. An ICMP unreachable goes with the datagram it quotes.
    @inline(__always)
    static func flowHash(_ data: UnsafeRawBufferPointer, link: LinkType) -> UInt64 {
        switch PacketDecoder.decode(data, linkType: link) {
        case .segment(let seg): return pairHash(seg.ip.src, seg.ip.dst)
        case .fragment(let frag): return pairHash(frag.ip.src, frag.ip.dst)
        case .encapsulated: return outerHash(data, link: link)
        case .skipped(let r):
            if r == .otherIPProtocol, let icmp = PacketDecoder.icmpUnreachable(data, linkType: link) {
                return pairHash(icmp.quotedSource, icmp.quotedDestination)
            }
            return 0
        case .malformed: return 0
        }
    }

    /// GRE, ERSPAN, IP-in-IP: the outermost tunnel's endpoints (out of the common path).
    @inline(never)
    static func outerHash(_ data: UnsafeRawBufferPointer, link: LinkType) -> UInt64 {
        for hop in PacketDecoder.tunnelTrace(data, linkType: link) {
            if let s = hop.outerSource, let d = hop.outerDestination { return pairHash(s, d) }
        }
        return 0
    }

    @inline(__always)
    static func pairHash(_ a: IPAddress, _ b: IPAddress) -> UInt64 {
        var x = a.tableHash &+ b.tableHash
        x ^= x >> 33
        x = x &* 0xff51_afd7_ed55_8ccd
        x ^= x >> 33
        return x
    }
}

/// Frames copied into one arena, handed to a worker as a unit.
final class FrameBatch: @unchecked Sendable {
    struct Frame {
        var offset: Int32
        var length: Int32
        var captureLength: Int32
        var nanoseconds: UInt32
        var seconds: Int64
        var number: UInt64
    }
    let arena: UnsafeMutableRawPointer
    let capacity: Int
    var used = 0
    var frames: [Frame] = []
    var count: Int { frames.count }

    init(capacity: Int, frames: Int) {
        self.capacity = capacity
        arena = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        self.frames.reserveCapacity(frames)
    }

    deinit { arena.deallocate() }

    /// False when the batch is full (the frame is not taken). A frame larger than the whole arena
    /// is cut to the arena's size (never the case with libpcap's 256 KiB snap length).
    @inline(__always)
    func append(_ f: CapturedFrame) -> Bool {
        let len = min(f.data.count, capacity)
        guard frames.count < ShardedDriver.framesPerBatch, used + len <= capacity else { return false }
        if len > 0, let base = f.data.baseAddress { (arena + used).copyMemory(from: base, byteCount: len) }
        frames.append(Frame(offset: Int32(used), length: Int32(len), captureLength: Int32(clamping: f.captureLength),
                            nanoseconds: f.nanoseconds, seconds: f.seconds, number: f.number))
        used += (len + 7) & ~7
        return true
    }

    func reset() {
        used = 0
        frames.removeAll(keepingCapacity: true)
    }
}

/// One worker thread and its core, fed through a small bounded queue.
final class Worker: @unchecked Sendable {
    enum Item {
        case begin(String, LinkType)
        case batch(FrameBatch)
        case end(InputResult)
        case stop
    }

    let core: CaptureAnalyzer
    private let work = BlockingQueue<Item>()
    private let free = BlockingQueue<FrameBatch>()
    private var thread = pthread_t()

    init(core: CaptureAnalyzer) {
        self.core = core
        for _ in 0..<ShardedDriver.batchesPerWorker {
            free.push(FrameBatch(capacity: ShardedDriver.arenaBytes, frames: ShardedDriver.framesPerBatch))
        }
    }

    func submit(_ item: Item) { work.push(item) }
    func takeFree() -> FrameBatch { free.pop() }

    func start() {
        let box = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&thread, nil, { arg in
            let w = Unmanaged<Worker>.fromOpaque(arg!).takeRetainedValue()
            w.loop()
            return nil
        }, box)
        precondition(rc == 0, "pthread_create failed")
    }

    func join() { pthread_join(thread, nil) }

    private func loop() {
        while true {
            switch work.pop() {
            case .begin(let name, let link):
                core.beginInput(name: name, linkType: link)
            case .batch(let b):
                let base = UnsafeRawPointer(b.arena)
                for f in b.frames {
                    core.feed(UnsafeRawBufferPointer(start: base + Int(f.offset), count: Int(f.length)),
                              captureLength: Int(f.captureLength), seconds: f.seconds, nanoseconds: f.nanoseconds,
                              number: f.number)
                }
                b.reset()
                free.push(b)
            case .end(let facts):
                core.endInput(shared: facts)
            case .stop:
                return
            }
        }
    }
}

/// A mutex-and-condition FIFO (items are batches, so a lock per hand-over is cheap); bounded
/// by the batches in circulation.
final class BlockingQueue<T>: @unchecked Sendable {
    private var items: [T] = []
    private var head = 0
    private var mutex = pthread_mutex_t()
    private var cond = pthread_cond_t()

    init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&cond, nil)
    }

    deinit {
        pthread_cond_destroy(&cond)
        pthread_mutex_destroy(&mutex)
    }

    func push(_ x: T) {
        pthread_mutex_lock(&mutex)
        items.append(x)
        pthread_cond_signal(&cond)
        pthread_mutex_unlock(&mutex)
    }

    func pop() -> T {
        pthread_mutex_lock(&mutex)
        while head == items.count { pthread_cond_wait(&cond, &mutex) }
        let x = items[head]
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        }
        pthread_mutex_unlock(&mutex)
        return x
    }
}
