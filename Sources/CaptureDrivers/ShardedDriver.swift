import AnalysisEngine
import CaptureSource
import Findings
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
    /// With `lines`, every worker renders its decode events into its own buffer (`lines.setUp`
    /// installs the renderer on each worker's core) and one writer thread writes them in capture
    /// order: the reader cuts the frames into epochs (every worker sees every epoch's end), and the
    /// writer merges each epoch's lines of all workers by the frame that produced them.
    /// Throws `ShardingError` when a thread cannot be started (nothing has been read then).
    public static func run(_ readers: [PcapFileReader], threads: Int, makeCore: () -> CaptureAnalyzer,
                           progress: ((ProgressSnapshot) -> Void)? = nil, lines: LineOutput? = nil) throws -> MergedAnalysis {
        let n = max(1, threads)
        let workers = (0..<n).map { _ in
            let core = makeCore()
            core.prepareAsShardWorker()
            let w = Worker(core: core, ordered: lines != nil)
            if let lines, let out = w.lines { lines.setUp(core, out) }
            return w
        }
        let writer = lines.map { OrderedWriter(workers: workers, write: $0.write) }
        try startAll(workers, writer: writer)
        var filling = workers.map { $0.takeFree() }
        var inEpoch = 0
        for reader in readers {
            let name = reader.path == "-" ? "stdin" : reader.path
            let link = LinkType(dlt: reader.linkType)
            // Workers begin the input with its first frame's time (the DNS side's capture-start
            // window is the same on every worker), so `.begin` goes out with the first frame.
            var begun = false
            var facts = InputResult(name: name, linkType: link)
            let started = monotonicSeconds()
            var nextProgress = 0
            let end = reader.forEachFrame { f in
                let ts = Timestamp(seconds: f.seconds, nanoseconds: f.nanoseconds)
                if !begun {
                    begun = true
                    facts.first = ts
                    for w in workers { w.submit(.begin(name, link, ts)) }
                }
                facts.last = ts
                facts.packets += 1
                facts.bytes += f.captureLength
                let i = n == 1 ? 0 : Int(flowHash(f.data, link: link) % UInt64(n))
                if !filling[i].append(f) {
                    workers[i].submit(.batch(filling[i]))
                    filling[i] = workers[i].takeFree()
                    _ = filling[i].append(f)
                }
                if writer != nil {
                    inEpoch += 1
                    if inEpoch >= epochFrames {
                        inEpoch = 0
                        for (j, w) in workers.enumerated() {
                            if filling[j].count > 0 {
                                w.submit(.batch(filling[j]))
                                filling[j] = w.takeFree()
                            }
                            w.submit(.epoch)
                        }
                    }
                }
                if let progress, facts.packets >= nextProgress {
                    nextProgress = facts.packets + 65_536
                    progress(ProgressSnapshot(input: name, bytesRead: reader.bytePosition, bytesTotal: reader.fileSize,
                                              packets: facts.packets, elapsedSeconds: monotonicSeconds() - started))
                }
                return true
            }
            facts.end = InputEnd(end)
            if !begun { for w in workers { w.submit(.begin(name, link, nil)) } }
            for (i, w) in workers.enumerated() where filling[i].count > 0 {
                w.submit(.batch(filling[i]))
                filling[i] = w.takeFree()
            }
            for w in workers { w.submit(.end(facts)) }
            if writer != nil {
                inEpoch = 0
                for w in workers { w.submit(.epoch) }
            }
        }
        stopAll(workers, writer: writer)
        return MergedAnalysis(cores: workers.map(\.core))
    }

    /// Live capture through flow-sharded workers: the libpcap loop (on the caller's thread) is the
    /// reader. Partial batches go out at least once a second, with a clock tick that makes every
    /// worker expire its timeouts (and, with `streamFindings`, hand over the findings it decided,
    /// given to `onFindings` on this thread, each finding id once). `idle` as in `LiveDriver.run`.
    /// Returns the merged cores, how the capture ended and the input's facts; every worker's input
    /// is ended (the caller does not call `endInput`).
    public static func runLive(_ cap: LiveCapture, threads: Int, makeCore: () -> CaptureAnalyzer, name: String,
                               onFindings: (([Finding]) -> Void)? = nil, idle: () -> Bool) throws
        -> (analysis: MergedAnalysis, end: LiveReadEnd, facts: InputResult) {
        let n = max(1, threads)
        let decided = onFindings == nil ? nil : DecidedFindings()
        let workers = (0..<n).map { _ in
            let core = makeCore()
            core.prepareAsShardWorker()
            let w = Worker(core: core)
            w.decided = decided
            return w
        }
        try startAll(workers, writer: nil)
        let link = LinkType(dlt: cap.linkType)
        var filling = workers.map { $0.takeFree() }
        var facts = InputResult(name: name, linkType: link)
        var begun = false
        var lastFlush = monotonicSeconds()
        var seen = Set<String>()
        func flush(now: Timestamp) {
            for (i, w) in workers.enumerated() {
                if filling[i].count > 0 {
                    w.submit(.batch(filling[i]))
                    filling[i] = w.takeFree()
                }
                if begun { w.submit(.tick(now)) }
            }
            if let decided, let onFindings {
                let fresh = decided.take().filter { seen.insert($0.id).inserted }
                if !fresh.isEmpty { onFindings(fresh) }
            }
        }
        let end = cap.forEachFrame({ f in
            let ts = Timestamp(seconds: f.seconds, nanoseconds: f.nanoseconds)
            if !begun {
                begun = true
                facts.first = ts
                for w in workers { w.submit(.begin(name, link, ts)) }
            }
            facts.last = ts
            facts.packets += 1
            facts.bytes += f.captureLength
            var frame = f
            frame.number = UInt64(facts.packets)
            let i = n == 1 ? 0 : Int(flowHash(f.data, link: link) % UInt64(n))
            if !filling[i].append(frame) {
                workers[i].submit(.batch(filling[i]))
                filling[i] = workers[i].takeFree()
                _ = filling[i].append(frame)
            }
            if facts.packets & 1023 == 0 {
                let now = monotonicSeconds()
                if now - lastFlush >= 1 {
                    lastFlush = now
                    flush(now: facts.last ?? ts)
                }
            }
            return true
        }, idle: {
            let now = monotonicSeconds()
            if now - lastFlush >= 1 {
                lastFlush = now
                var wall = timespec()
                clock_gettime(CLOCK_REALTIME, &wall)
                let clock = Timestamp(seconds: Int64(wall.tv_sec), nanoseconds: UInt32(wall.tv_nsec))
                flush(now: max(clock, facts.last ?? clock))
            }
            return idle()
        })
        if !begun { for w in workers { w.submit(.begin(name, link, nil)) } }
        for (i, w) in workers.enumerated() where filling[i].count > 0 {
            w.submit(.batch(filling[i]))
            filling[i] = w.takeFree()
        }
        if case .error(let e) = end { facts.end = .readError(e) } else { facts.end = .endOfFile }
        for w in workers { w.submit(.end(facts)) }
        stopAll(workers, writer: nil)
        if let decided, let onFindings {
            let fresh = decided.take().filter { seen.insert($0.id).inserted }
            if !fresh.isEmpty { onFindings(fresh) }
        }
        return (MergedAnalysis(cores: workers.map(\.core)), end, facts)
    }

    /// Frames per epoch of an ordered (decode) run.
    static let epochFrames = 16_384

    /// Starts every worker (and the writer); when one cannot be started, the ones already running
    /// are stopped and joined before the error is thrown.
    static func startAll(_ workers: [Worker], writer: OrderedWriter?) throws {
        var started: [Worker] = []
        do {
            for w in workers {
                try w.start()
                started.append(w)
            }
            try writer?.start()
        } catch {
            for w in started { w.submit(.stop) }
            for w in started { w.join() }
            throw error
        }
    }

    static func stopAll(_ workers: [Worker], writer: OrderedWriter?) {
        for w in workers { w.submit(.stop) }
        for w in workers { w.join() }
        writer?.join()
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

/// A thread could not be started (the system's thread limit, memory).
public struct ShardingError: Error, CustomStringConvertible, Sendable {
    public var code: Int32
    public var description: String {
        "cannot start an analysis thread (\(String(cString: strerror(code)))); try a smaller --threads"
    }
}

/// What an ordered (decode) sharded run writes: `setUp` installs a renderer on one worker's core
/// (called once per worker, before any frame) that appends each line to the worker's
/// `ShardLines`; `write` gets the merged lines, in capture order, on the writer thread.
public struct LineOutput {
    public var setUp: (CaptureAnalyzer, ShardLines) -> Void
    public var write: ([UInt8]) -> Void
    public init(setUp: @escaping (CaptureAnalyzer, ShardLines) -> Void, write: @escaping ([UInt8]) -> Void) {
        self.setUp = setUp
        self.write = write
    }
}

/// One worker's rendered lines of the current epoch, each tagged with the frame being analysed
/// when it was produced (input << 40 | frame; an input's end after all its frames).
public final class ShardLines: @unchecked Sendable {
    var bytes: [UInt8] = []
    var keys: [UInt64] = []
    var ends: [Int] = []
    var key: UInt64 = 0

    init() {
        bytes.reserveCapacity(1 << 16)
    }

    /// One whole line (or several lines produced together), newline included.
    public func append(_ line: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: line)
        keys.append(key)
        ends.append(bytes.count)
    }

    public func append(_ line: [UInt8]) { line.withUnsafeBytes { append($0) } }

    func reset() {
        bytes.removeAll(keepingCapacity: true)
        keys.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
    }
}

/// A POSIX thread running one closure; `start` throws instead of trapping.
final class OSThread: @unchecked Sendable {
    private var thread = pthread_t()
    private let body: () -> Void

    init(_ body: @escaping () -> Void) { self.body = body }

    func start() throws {
        let box = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&thread, nil, { arg in
            let t = Unmanaged<OSThread>.fromOpaque(arg!).takeRetainedValue()
            t.body()
            return nil
        }, box)
        if rc != 0 {
            Unmanaged<OSThread>.fromOpaque(box).release()
            throw ShardingError(code: rc)
        }
    }

    func join() { pthread_join(thread, nil) }
}

/// One worker thread and its core, fed through a small bounded queue.
final class Worker: @unchecked Sendable {
    enum Item {
        case begin(String, LinkType, Timestamp?)
        case batch(FrameBatch)
        case end(InputResult)
        /// Ordered runs: hand this epoch's lines to the writer.
        case epoch
        /// Live runs: the clock (expire timeouts; hand over decided findings).
        case tick(Timestamp)
        case stop
    }

    let core: CaptureAnalyzer
    /// Ordered runs: the lines being rendered, and the finished epochs' lines (a bounded pool).
    private(set) var lines: ShardLines?
    let done = BlockingQueue<ShardLines?>()
    let freeLines = BlockingQueue<ShardLines>()
    private let work = BlockingQueue<Item>()
    private let free = BlockingQueue<FrameBatch>()
    private var thread: OSThread?
    private var input = -1
    /// Live runs with streamed findings: where the worker puts the findings it decided.
    var decided: DecidedFindings?

    init(core: CaptureAnalyzer, ordered: Bool = false) {
        self.core = core
        for _ in 0..<ShardedDriver.batchesPerWorker {
            free.push(FrameBatch(capacity: ShardedDriver.arenaBytes, frames: ShardedDriver.framesPerBatch))
        }
        if ordered {
            lines = ShardLines()
            for _ in 0..<3 { freeLines.push(ShardLines()) }
        }
    }

    func submit(_ item: Item) { work.push(item) }
    func takeFree() -> FrameBatch { free.pop() }

    func start() throws {
        let t = OSThread { [self] in loop() }
        try t.start()
        thread = t
    }

    func join() {
        thread?.join()
        thread = nil
    }

    private func loop() {
        while true {
            switch work.pop() {
            case .begin(let name, let link, let first):
                input = core.beginInput(name: name, linkType: link)
                if let first { core.noteInputStart(first) }
            case .batch(let b):
                let base = UnsafeRawPointer(b.arena)
                let inputKey = UInt64(truncatingIfNeeded: max(0, input)) << 40
                for f in b.frames {
                    lines?.key = inputKey | (f.number & 0xff_ffff_ffff)
                    core.feed(UnsafeRawBufferPointer(start: base + Int(f.offset), count: Int(f.length)),
                              captureLength: Int(f.captureLength), seconds: f.seconds, nanoseconds: f.nanoseconds,
                              number: f.number)
                }
                b.reset()
                free.push(b)
            case .end(let facts):
                lines?.key = UInt64(truncatingIfNeeded: max(0, input)) << 40 | 0xff_ffff_ffff
                core.endInput(shared: facts)
            case .tick(let now):
                core.expire(now: now)
                if let decided {
                    let f = core.drainNewFindings()
                    if !f.isEmpty { decided.add(f) }
                }
            case .epoch:
                guard let full = lines else { break }
                let next = freeLines.pop()
                // The renderer installed by `setUp` holds this object: move the epoch's lines out.
                swap(&full.bytes, &next.bytes)
                swap(&full.keys, &next.keys)
                swap(&full.ends, &next.ends)
                done.push(next)
            case .stop:
                if lines != nil { done.push(nil) }
                return
            }
        }
    }
}

/// The writer of an ordered run: takes every worker's lines of one epoch, merges them by the
/// frame that produced them (a frame's lines are all on one worker, in order; an input's end
/// lines by worker), writes them in large blocks, and gives the buffers back.
final class OrderedWriter: @unchecked Sendable {
    private let workers: [Worker]
    private let write: ([UInt8]) -> Void
    private var thread: OSThread?

    init(workers: [Worker], write: @escaping ([UInt8]) -> Void) {
        self.workers = workers
        self.write = write
    }

    func start() throws {
        let t = OSThread { [self] in loop() }
        try t.start()
        thread = t
    }

    func join() {
        thread?.join()
        thread = nil
    }

    private func loop() {
        var out: [UInt8] = []
        out.reserveCapacity(1 << 19)
        var chunks: [ShardLines] = []
        var pos = [Int](repeating: 0, count: workers.count)
        while true {
            chunks.removeAll(keepingCapacity: true)
            var stopped = false
            for w in workers {
                if let c = w.done.pop() { chunks.append(c) } else { stopped = true }
            }
            if stopped { break }
            for i in pos.indices { pos[i] = 0 }
            while true {
                var best = -1
                var bestKey = UInt64.max
                for (i, c) in chunks.enumerated() where pos[i] < c.keys.count {
                    if best < 0 || c.keys[pos[i]] < bestKey {
                        best = i
                        bestKey = c.keys[pos[i]]
                    }
                }
                if best < 0 { break }
                // Every line of this worker up to the next worker's key goes at once.
                let c = chunks[best]
                var j = pos[best]
                var limit = UInt64.max
                var limitWorker = Int.max  // the lowest other worker whose next line has `limit`
                for (i, o) in chunks.enumerated() where i != best && pos[i] < o.keys.count && o.keys[pos[i]] <= limit {
                    if o.keys[pos[i]] < limit || i < limitWorker {
                        limit = o.keys[pos[i]]
                        limitWorker = i
                    }
                }
                // Equal keys (an input's end) go by worker: best is the lowest worker with the least key.
                while j < c.keys.count && (c.keys[j] < limit || (c.keys[j] == limit && best < limitWorker)) { j += 1 }
                let from = pos[best] == 0 ? 0 : c.ends[pos[best] - 1]
                let to = c.ends[j - 1]
                c.bytes.withUnsafeBytes { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[from..<to])) }
                pos[best] = j
                if out.count >= 1 << 18 {
                    write(out)
                    out.removeAll(keepingCapacity: true)
                }
            }
            for (i, c) in chunks.enumerated() {
                c.reset()
                workers[i].freeLines.push(c)
            }
        }
        if !out.isEmpty { write(out) }
    }
}

/// Findings decided on live workers, collected under a lock for the reader thread to print.
final class DecidedFindings: @unchecked Sendable {
    private var list: [Finding] = []
    private var mutex = pthread_mutex_t()

    init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }

    func add(_ f: [Finding]) {
        pthread_mutex_lock(&mutex)
        list += f
        pthread_mutex_unlock(&mutex)
    }

    func take() -> [Finding] {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        let out = list
        list = []
        return out
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
