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
/// Between regions the workers spin on an atomic counter for `spinMicroseconds`, then sleep on a condition
/// variable; a region costs about a microsecond when the workers are spinning. No allocation happens per call.
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
        state = PoolState(workers: threads - 1, spinNanoseconds: UInt64(max(0, spinMicroseconds)) * 1000)
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
    /// done. Chunks are multiples of `grain` elements (the last may be shorter), about four per thread.
    public func parallelFor(_ count: Int, grain: Int = 1, _ body: (Range<Int>, Int) -> Void) {
        guard count > 0 else { return }
        let grain = max(1, grain)
        let perChunk = (count + threadCount * 4 - 1) / (threadCount * 4)
        let chunk = max(grain, (perChunk + grain - 1) / grain * grain)
        parallelChunks(count, chunk: chunk, body)
    }

    /// Runs `body(range, thread)` over chunks of exactly `chunk` elements (the last may be shorter).
    public func parallelChunks(_ count: Int, chunk: Int, _ body: (Range<Int>, Int) -> Void) {
        guard count > 0 else { return }
        let chunk = max(1, chunk)
        let chunks = (count + chunk - 1) / chunk
        if threadCount == 1 || chunks == 1 {
            body(0..<count, 0)
            return
        }
        withoutActuallyEscaping(body) { escapable in
            state.run(Job(body: escapable, count: count, chunk: chunk, chunks: chunks))
        }
    }
}

/// One parallel region.
struct Job {
    let body: (Range<Int>, Int) -> Void
    let count: Int
    let chunk: Int
    let chunks: Int
}

/// What a worker thread needs: the shared state and its index.
final class WorkerContext {
    let state: PoolState
    let index: Int
    init(state: PoolState, index: Int) { self.state = state; self.index = index }
}

/// The state shared by the pool's caller and its workers.
final class PoolState: @unchecked Sendable {
    let workerCount: Int
    let spinNanoseconds: UInt64
    /// Incremented to publish a region (or shutdown); workers wait for it to change.
    let generation = Atomic<Int>(0)
    /// Next chunk to take.
    let nextChunk = Atomic<Int>(0)
    /// Workers that have not yet finished the current region.
    let running = Atomic<Int>(0)
    /// Workers blocked (or about to block) on the condition variable.
    let sleepers = Atomic<Int>(0)
    let stopping = Atomic<Bool>(false)
    /// True while a region runs (re-entrancy check).
    let busy = Atomic<Bool>(false)
    /// The current region; written before `generation` is published, read by workers after they observe it.
    var job: Job?
    let mutex: UnsafeMutablePointer<pthread_mutex_t>
    let condition: UnsafeMutablePointer<pthread_cond_t>

    init(workers: Int, spinNanoseconds: UInt64) {
        workerCount = workers
        self.spinNanoseconds = spinNanoseconds
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        pthread_cond_destroy(condition)
        mutex.deallocate()
        condition.deallocate()
    }

    /// Publishes `job`, takes part in it as thread 0 and waits for the workers.
    func run(_ job: Job) {
        let (exchanged, _) = busy.compareExchange(expected: false, desired: true, ordering: .acquiring)
        precondition(exchanged, "ThreadPool.parallelFor called from inside a parallel region or from two threads at once")
        self.job = job
        nextChunk.store(0, ordering: .relaxed)
        running.store(workerCount, ordering: .relaxed)
        generation.add(1, ordering: .sequentiallyConsistent)
        wakeSleepers()
        work(job, thread: 0)
        var spins = 0
        while running.load(ordering: .acquiring) != 0 {
            spins += 1
            if spins > 10_000 { sched_yield() }
        }
        self.job = nil
        busy.store(false, ordering: .releasing)
    }

    @inline(__always)
    private func work(_ job: Job, thread: Int) {
        while true {
            let c = nextChunk.add(1, ordering: .relaxed).oldValue
            if c >= job.chunks { return }
            let start = c * job.chunk
            job.body(start..<min(job.count, start + job.chunk), thread)
        }
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
        generation.add(1, ordering: .sequentiallyConsistent)
        pthread_mutex_lock(mutex)
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    func workerLoop(index: Int) {
        var seen = 0
        while true {
            seen = waitForRegion(after: seen)
            if stopping.load(ordering: .acquiring) { return }
            runCurrent(thread: index)
            running.subtract(1, ordering: .releasing)
        }
    }

    @inline(never)
    private func runCurrent(thread: Int) {
        if let job { work(job, thread: thread) }
    }

    /// Spins, then sleeps, until `generation` differs from `seen`; returns the new value.
    private func waitForRegion(after seen: Int) -> Int {
        var polls = 0
        var deadline: UInt64 = 0
        while true {
            let g = generation.load(ordering: .acquiring)
            if g != seen { return g }
            polls += 1
            if polls & 255 == 0 {
                let now = monotonicNanoseconds()
                if deadline == 0 {
                    deadline = now + spinNanoseconds
                } else if now >= deadline {
                    pthread_mutex_lock(mutex)
                    sleepers.add(1, ordering: .sequentiallyConsistent)
                    while generation.load(ordering: .sequentiallyConsistent) == seen {
                        pthread_cond_wait(condition, mutex)
                    }
                    sleepers.subtract(1, ordering: .sequentiallyConsistent)
                    pthread_mutex_unlock(mutex)
                    return generation.load(ordering: .acquiring)
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
