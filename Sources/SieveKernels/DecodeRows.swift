import CSieveKernels

/// The rows of a weight matrix one decode kernel call computes, handed to the kernel in groups of four.
///
/// Either a contiguous range, grouped by its four quarters (four long sequential memory streams), or positions
/// of a list of row indices (the selected neurons of a sparse FFN), grouped four consecutive entries at a time. A
/// last group of fewer than four repeats its last row and says how many are real. Each row's result does not
/// depend on the group it was computed in. Listed rows are prefetched `prefetchGroups` groups ahead: the hardware
/// prefetcher cannot guess them, and each is only a few hundred bytes.
struct DecodeRows {
    /// Rows (`list == nil`) or positions in `list`.
    let span: Range<Int>
    let list: UnsafePointer<Int>?

    /// The rows `rows`.
    init(_ rows: Range<Int>) {
        span = rows
        list = nil
    }

    /// The rows `list[positions]`.
    init(list: UnsafePointer<Int>, positions: Range<Int>) {
        span = positions
        self.list = list
    }

    /// Groups of four listed rows fetched ahead of the group being computed.
    static let prefetchGroups = 2

    /// Calls `body` with each group of four row indices of `w` and how many of them are real.
    @inline(__always)
    func forEachGroup(of w: WeightMatrix, _ body: ((Int, Int, Int, Int), Int) -> Void) {
        if let list {
            var i = span.lowerBound
            let last = span.upperBound - 1
            let ahead = 4 * Self.prefetchGroups
            func prefetch(_ positions: Range<Int>) {
                var j = positions.lowerBound
                while j < positions.upperBound && j <= last {
                    sieve_prefetch(w.row(list[j]), w.rowBytes)
                    j += 1
                }
            }
            prefetch(i..<(i + ahead))
            while i <= last {
                prefetch((i + ahead)..<(i + ahead + 4))
                body((list[i], list[min(i + 1, last)], list[min(i + 2, last)], list[min(i + 3, last)]), min(4, last - i + 1))
                i += 4
            }
            return
        }
        let quarter = span.count / 4
        for i in 0..<quarter {
            let r = span.lowerBound + i
            body((r, r + quarter, r + 2 * quarter, r + 3 * quarter), 4)
        }
        let rest = span.lowerBound + 4 * quarter
        if rest < span.upperBound {
            let last = span.upperBound - 1
            body((rest, min(rest + 1, last), min(rest + 2, last), last), span.upperBound - rest)
        }
    }

    /// Calls `body` with contiguous ranges covering the rows: the range itself, or each listed row alone.
    @inline(__always)
    func forEachRange(_ body: (Range<Int>) -> Void) {
        guard let list else { return body(span) }
        for i in span { body(list[i]..<(list[i] + 1)) }
    }
}
