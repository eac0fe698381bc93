import Dispatch

/// Runs `body` for `0..<count` on all cores and returns the results in order; rethrows the first error (by index).
func parallelMap<T>(_ count: Int, _ body: (Int) throws -> T) throws -> [T] {
    var results = [Result<T, Error>?](repeating: nil, count: count)
    results.withUnsafeMutableBufferPointer { slots in
        DispatchQueue.concurrentPerform(iterations: count) { i in slots[i] = Result { try body(i) } }
    }
    return try results.map { try $0!.get() }
}
