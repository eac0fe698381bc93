import Foundation

/// A fair (first come, first served) lock around model compute, so that generations on different slots share one
/// thread pool: a `ThreadPool` runs one parallel region at a time, so only the holder of the gate may evaluate.
/// Generations hand the gate on after every token (`yieldTurn`), so concurrent requests advance in turn.
final class ComputeGate: @unchecked Sendable {
    private let condition = NSCondition()
    private var nextTicket: UInt64 = 0
    private var serving: UInt64 = 0

    /// Blocks the calling thread until it is its turn.
    func acquire() {
        condition.lock()
        let ticket = nextTicket
        nextTicket += 1
        while serving != ticket { condition.wait() }
        condition.unlock()
    }

    /// Passes the gate to the next waiting thread.
    func release() {
        condition.lock()
        serving += 1
        condition.broadcast()
        condition.unlock()
    }

    /// Threads waiting for the gate (not counting the holder).
    var waiting: Int {
        condition.lock(); defer { condition.unlock() }
        return Int(nextTicket - serving) - 1
    }

    /// Lets every thread already waiting run once, then takes the gate again (no-op when none waits). The caller
    /// takes its new ticket before it passes the gate on, so the thread it hands over to sees it waiting.
    func yieldTurn() {
        condition.lock()
        if nextTicket - serving > 1 {
            let ticket = nextTicket
            nextTicket += 1
            serving += 1
            condition.broadcast()
            while serving != ticket { condition.wait() }
        }
        condition.unlock()
    }
}

/// Hands out model slots (each a model with its own KV cache) to requests in arrival order; requests wait in a
/// bounded queue when every slot is busy.
final class SlotScheduler: @unchecked Sendable {
    /// A request waiting for a slot.
    private final class Waiter {
        enum State { case new, waiting(CheckedContinuation<Int, Error>), done, cancelled }
        var state = State.new
    }

    private let lock = NSLock()
    private var free: [Int]
    private var queue: [Waiter] = []
    private var draining = false
    /// Number of slots.
    let slotCount: Int
    /// Most requests that may wait.
    let maxQueue: Int

    init(slots: Int, maxQueue: Int) {
        slotCount = slots
        self.maxQueue = maxQueue
        free = Array((0..<slots).reversed())
    }

    /// Slots in use and requests waiting.
    var load: (busy: Int, queued: Int) {
        lock.withLock { (slotCount - free.count, queue.count) }
    }

    /// Waits for a free slot (first come, first served). Throws `APIError` 429 when the queue is full, 503 when the
    /// server is shutting down, and `CancellationError` when the task is cancelled while waiting.
    func acquire() async throws -> Int {
        let waiter = Waiter()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int, Error>) in
                lock.lock()
                if case .cancelled = waiter.state {
                    lock.unlock()
                    continuation.resume(throwing: CancellationError())
                } else if draining {
                    waiter.state = .done
                    lock.unlock()
                    continuation.resume(throwing: APIError.shuttingDown)
                } else if queue.isEmpty, let slot = free.popLast() {
                    waiter.state = .done
                    lock.unlock()
                    continuation.resume(returning: slot)
                } else if queue.count >= maxQueue {
                    waiter.state = .done
                    let slots = slotCount
                    lock.unlock()
                    continuation.resume(throwing: APIError(
                        status: 429, message: "The server is busy: all \(slots) slots are generating and the queue of \(maxQueue) waiting requests (--max-queue) is full. Retry later.",
                        type: "rate_limit_error", code: "queue_full"))
                } else {
                    waiter.state = .waiting(continuation)
                    queue.append(waiter)
                    lock.unlock()
                }
            }
        } onCancel: {
            lock.lock()
            switch waiter.state {
            case .new:
                waiter.state = .cancelled
                lock.unlock()
            case let .waiting(continuation):
                waiter.state = .done
                queue.removeAll { $0 === waiter }
                lock.unlock()
                continuation.resume(throwing: CancellationError())
            case .done, .cancelled:
                lock.unlock()
            }
        }
    }

    /// Returns a slot: the longest-waiting request gets it, or it becomes free.
    func release(_ slot: Int) {
        lock.lock()
        while let waiter = queue.first {
            queue.removeFirst()
            if case let .waiting(continuation) = waiter.state {
                waiter.state = .done
                lock.unlock()
                continuation.resume(returning: slot)
                return
            }
        }
        free.append(slot)
        lock.unlock()
    }

    /// Refuses new requests and fails every waiting one with 503 (graceful shutdown).
    func drain() {
        lock.lock()
        draining = true
        let waiting = queue
        queue.removeAll()
        var continuations: [CheckedContinuation<Int, Error>] = []
        for waiter in waiting {
            if case let .waiting(c) = waiter.state { continuations.append(c) }
            waiter.state = .done
        }
        lock.unlock()
        for c in continuations { c.resume(throwing: APIError.shuttingDown) }
    }

    /// Whether `drain()` was called.
    var isDraining: Bool { lock.withLock { draining } }
}

/// A flag set from one thread and read from another: asks a running generation to stop.
public final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    /// A flag not yet set.
    public init() {}
    /// Asks the generation to stop at its next token.
    public func set() { lock.lock(); value = true; lock.unlock() }
    /// Whether a stop was asked for.
    public var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}

extension APIError {
    /// 503: the server is shutting down.
    static let shuttingDown = APIError(status: 503, message: "The server is shutting down and takes no new requests.",
                                       type: "server_error", code: "shutting_down")
}
