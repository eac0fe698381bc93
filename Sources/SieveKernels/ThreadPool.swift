import CSieveKernels
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A pool of persistent worker threads with a cheap fork/join, for the hundreds of parallel regions a decoded
/// token needs.
///
/// `parallelFor(count, grain:) { range, thread in … }` splits `0..<count` into chunks that the calling thread and
/// the workers take in turn (dynamic scheduling, so a thread slowed by the OS does not hold the others up) and
/// returns when all chunks are done. `thread` is in `0..<threadCount` and identifies the executing thread for the
/// duration of the call (the caller is thread 0), so it can index per-thread scratch memory.
///
/// Between regions the workers spin on an atomic word for `spinMicroseconds`, then sleep on a condition
/// variable; a region costs about a microsecond when the workers are spinning. No allocation happens per call:
/// the body reaches the workers as its two machine words on the caller's stack (see `captureBody`), not through
/// `withoutActuallyEscaping`, whose escape-check wrapper is a heap object.
/// The caller never waits for a worker that has not started (see `PoolState`), so a worker descheduled by a
/// busy machine only delays a region if it is in the middle of a chunk.
///
/// One region at a time: `parallelFor` must not be called from inside a region or concurrently from two threads
/// (a precondition checks the first case).
public final class ThreadPool: @unchecked Sendable {
    /// Number of threads that execute a region, the caller included.
    public let threadCount: Int

    private let state: PoolState
    private var workers: [pthread_t] = []

    /// The default thread count: the number of active processor cores.
    public static var defaultThreadCount: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }

    /// Starts `threads - 1` workers (the calling thread is the last participant).
    /// - Parameters:
    ///   - threads: threads per region, at least 1; defaults to the number of cores.
    ///   - spinMicroseconds: how long an idle worker polls for the next region before it sleeps.
    public init(threads: Int = ThreadPool.defaultThreadCount, spinMicroseconds: Int = 200) {
        precondition(threads >= 1, "a thread pool needs at least one thread")
        threadCount = threads
        state = PoolState(spinNanoseconds: UInt64(max(0, spinMicroseconds)) * 1000)
        for index in 1..<max(1, threads) {
            let context = Unmanaged.passRetained(WorkerContext(state: state, index: index)).toOpaque()
            var thread = pthread_t()
            let rc = pthread_create(&thread, nil, { raw in
                #if canImport(Darwin)
                let context = Unmanaged<WorkerContext>.fromOpaque(raw).takeRetainedValue()
                #else
                let context = Unmanaged<WorkerContext>.fromOpaque(raw!).takeRetainedValue()
                #endif
                context.state.workerLoop(index: context.index)
                return nil
            }, context)
            precondition(rc == 0, "pthread_create failed with \(rc)")
            workers.append(thread)
        }
    }

    deinit {
        state.shutdown()
        for thread in workers { pthread_join(thread, nil) }
    }

    /// Runs `body(range, thread)` over chunks covering `0..<count` on all threads and returns when every chunk is
    /// done. Chunks are multiples of `grain` elements (the last may be shorter), about `chunksPerThread` per thread.
    public func parallelFor(_ count: Int, grain: Int = 1, chunksPerThread: Int = 4, _ body: (Range<Int>, Int) -> Void) {
        guard count > 0 else { return }
        let grain = max(1, grain), chunks = threadCount * max(1, chunksPerThread)
        let perChunk = (count + chunks - 1) / chunks
        let chunk = max(grain, (perChunk + grain - 1) / grain * grain)
        parallelChunks(count, chunk: chunk, body)
    }

    /// Runs `body(range, thread)` over chunks of exactly `chunk` elements (the last may be shorter).
    public func parallelChunks(_ count: Int, chunk: Int, _ body: (Range<Int>, Int) -> Void) {
        guard count > 0 else { return }
        var chunk = max(1, chunk)
        if (count + chunk - 1) / chunk > PoolState.maxChunks { chunk = (count + PoolState.maxChunks - 1) / PoolState.maxChunks }
        let chunks = (count + chunk - 1) / chunk
        if threadCount == 1 || chunks == 1 {
            body(0..<count, 0)
            return
        }
        var words = SievePoolBody()
        captureBody(body, &words)
        withUnsafePointer(to: &words) { state.run($0, count: count, chunk: chunk, chunks: chunks) }
    }
}

/// Stores the two machine words of a non-escaping `(Range<Int>, Int) -> Void` closure — its function and its
/// context (Swift passes a closure argument as these two words) — into `slot`, so that the pool's workers can call
/// it through `sieve_pool_body_call` (C, Swift calling convention) while the closure is alive: `parallelChunks`
/// returns only after every chunk ran. Implemented in CSieveKernels (`sieve_pool_body_capture`). Converting the
/// closure with `withoutActuallyEscaping` instead would allocate a wrapper object on every region.
@_silgen_name("sieve_pool_body_capture")
private func captureBody(_ body: (Range<Int>, Int) -> Void, _ slot: UnsafeMutablePointer<SievePoolBody>)

/// What a worker thread needs: the shared state and its index.
final class WorkerContext {
    let state: PoolState
    let index: Int
    init(state: PoolState, index: Int) { self.state = state; self.index = index }
}

/// The state shared by the pool's caller and its workers.
///
/// A region is published as one 64-bit word: generation (24 bits), chunk count (20 bits) and next chunk to
/// take (20 bits). Threads take chunks with a fetch-add on that word, so a chunk can only be taken in the region
/// that published it, and a worker that wakes up after all chunks are taken touches nothing. The caller waits
/// only for the chunks that were taken (`completed`), never for a worker that has not started: a descheduled
/// worker cannot hold a region up unless it is in the middle of a chunk.
final class PoolState: @unchecked Sendable {
    static let chunkBits: UInt64 = 20
    static let maxChunks = (1 << 19) - 1

    let spinNanoseconds: UInt64
    /// generation << 40 | chunks << 20 | next.
    let region = Atomic<UInt64>(0)
    /// Chunks of the current region that have finished.
    let completed = Atomic<Int>(0)
    /// Workers blocked (or about to block) on the condition variable.
    let sleepers = Atomic<Int>(0)
    let stopping = Atomic<Bool>(false)
    /// True while a region runs (re-entrancy check).
    let busy = Atomic<Bool>(false)
    /// The current region's body, element count and chunk size; written before `region` is published, read only by
    /// a thread that took one of its chunks. Behind a pointer rather than in stored `var`s, which Swift would check
    /// for exclusive access at run time on every chunk.
    struct Region {
        var body: UnsafePointer<SievePoolBody>?
        var count = 0
        var chunk = 0
    }
    let current: UnsafeMutablePointer<Region>
    let mutex: UnsafeMutablePointer<pthread_mutex_t>
    let condition: UnsafeMutablePointer<pthread_cond_t>

    init(spinNanoseconds: UInt64) {
        self.spinNanoseconds = spinNanoseconds
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        current = .allocate(capacity: 1)
        current.initialize(to: Region())
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        pthread_cond_destroy(condition)
        mutex.deallocate()
        condition.deallocate()
        current.deallocate()
    }

    @inline(__always) static func generation(_ word: UInt64) -> UInt64 { word >> 40 }
    @inline(__always) static func chunks(_ word: UInt64) -> Int { Int((word >> chunkBits) & 0xFFFFF) }
    @inline(__always) static func next(_ word: UInt64) -> Int { Int(word & 0xFFFFF) }

    /// Publishes `body` over `0..<count` in `chunks` chunks of `chunk`, takes part in it and waits until every
    /// chunk is done.
    func run(_ body: UnsafePointer<SievePoolBody>, count: Int, chunk: Int, chunks: Int) {
        let (exchanged, _) = busy.compareExchange(expected: false, desired: true, ordering: .acquiring)
        precondition(exchanged, "ThreadPool.parallelFor called from inside a parallel region or from two threads at once")
        precondition(chunks <= PoolState.maxChunks)
        current.pointee = Region(body: body, count: count, chunk: chunk)
        completed.store(0, ordering: .relaxed)
        let generation = (PoolState.generation(region.load(ordering: .relaxed)) &+ 1) & 0xFF_FFFF
        region.store(generation << 40 | UInt64(chunks) << PoolState.chunkBits, ordering: .sequentiallyConsistent)
        wakeSleepers()
        let done = work(thread: 0)
        // Wait for chunks other threads are running. Yielding early would hand the core to another process for a
        // whole time slice on a busy machine, so only yield after a millisecond.
        var polls = 0
        var deadline: UInt64 = 0
        while completed.load(ordering: .acquiring) + done < chunks {
            polls += 1
            if polls & 1023 == 0 {
                let now = monotonicNanoseconds()
                if deadline == 0 { deadline = now + 1_000_000 } else if now > deadline { sched_yield() }
            }
        }
        current.pointee.body = nil
        busy.store(false, ordering: .releasing)
    }

    /// Takes and runs chunks of the current region until none is left; returns how many chunks ran when called
    /// by the publishing thread (workers count theirs in `completed`).
    @inline(__always)
    private func work(thread: Int) -> Int {
        var ran = 0
        while true {
            let word = region.add(1, ordering: .acquiringAndReleasing).oldValue
            let c = PoolState.next(word)
            if c >= PoolState.chunks(word) { break }
            runChunk(c, thread: thread)
            if thread == 0 { ran += 1 } else { completed.add(1, ordering: .releasing) }
        }
        return ran
    }

    @inline(never)
    private func runChunk(_ c: Int, thread: Int) {
        let region = current.pointee
        guard let body = region.body else { return }
        let start = c * region.chunk
        sieve_pool_body_call(body, start, min(region.count, start + region.chunk), thread)
    }

    private func wakeSleepers() {
        if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
            pthread_mutex_lock(mutex)
            pthread_cond_broadcast(condition)
            pthread_mutex_unlock(mutex)
        }
    }

    func shutdown() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        let generation = (PoolState.generation(region.load(ordering: .relaxed)) &+ 1) & 0xFF_FFFF
        region.store(generation << 40, ordering: .sequentiallyConsistent)
        pthread_mutex_lock(mutex)
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    func workerLoop(index: Int) {
        var seen: UInt64 = 0
        while true {
            seen = waitForRegion(after: seen)
            if stopping.load(ordering: .acquiring) { return }
            _ = work(thread: index)
        }
    }

    /// Spins, then sleeps, until the region generation differs from `seen`; returns the new generation.
    private func waitForRegion(after seen: UInt64) -> UInt64 {
        var polls = 0
        var deadline: UInt64 = 0
        while true {
            let g = PoolState.generation(region.load(ordering: .acquiring))
            if g != seen { return g }
            polls += 1
            if polls & 255 == 0 {
                let now = monotonicNanoseconds()
                if deadline == 0 {
                    deadline = now + spinNanoseconds
                } else if now >= deadline {
                    pthread_mutex_lock(mutex)
                    sleepers.add(1, ordering: .sequentiallyConsistent)
                    while PoolState.generation(region.load(ordering: .sequentiallyConsistent)) == seen {
                        pthread_cond_wait(condition, mutex)
                    }
                    sleepers.subtract(1, ordering: .sequentiallyConsistent)
                    pthread_mutex_unlock(mutex)
                    return PoolState.generation(region.load(ordering: .acquiring))
                }
            }
        }
    }
}

/// CLOCK_MONOTONIC in nanoseconds.
@inline(__always)
func monotonicNanoseconds() -> UInt64 {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
}
