import CSieveKernels

/// The rows of a weight matrix one decode kernel call computes, handed to the kernel in groups of four.
///
/// The rows form a sequence of entries: a contiguous range of rows; positions of a list of row indices (the
/// selected neurons of a sparse FFN); or groups of selected blocks (`blockRows` a multiple of 4), whose entries are
/// the blocks' rows in order. Every kind is grouped by its four quarters: group `g` holds entries `g`, `g + q`,
/// `g + 2q` and `g + 3q` (`q` a quarter of the entries), so the kernel reads four long memory streams at once, as
/// many as the memory system keeps in flight; a last group of fewer than four repeats its last row and says how
/// many are real. Each row's result does not depend on the group it was computed in. Listed rows and blocks are
/// also prefetched `prefetchGroups` groups ahead: the hardware prefetcher cannot guess where the next selected
/// row or block is. In a microbenchmark with Q4_1 rows streamed from memory, quarter groups made random listed
/// rows 28% faster and selected 32-row blocks 16% faster than groups of four consecutive entries.
struct DecodeRows {
    /// Rows (`list == nil`), positions in `list` (`blockRows == 0`), or groups of the blocks in `list`.
    let span: Range<Int>
    let list: UnsafePointer<Int>?
    let blockRows: Int

    /// The rows `rows`.
    init(_ rows: Range<Int>) {
        span = rows
        list = nil
        blockRows = 0
    }

    /// The rows `list[positions]`.
    init(list: UnsafePointer<Int>, positions: Range<Int>) {
        span = positions
        self.list = list
        blockRows = 0
    }

    /// Groups `groups` of the blocks `blocks` (of `blockRows` rows, a multiple of 4): the entries `4·groups.lowerBound
    /// ..< 4·groups.upperBound` of the blocks' rows in order (entry `v` is row `v % blockRows` of block
    /// `blocks[v / blockRows]`), so that splitting the groups between threads splits the rows.
    init(blocks: UnsafePointer<Int>, blockRows: Int, groups: Range<Int>) {
        precondition(blockRows >= 4 && blockRows % 4 == 0, "block groups need a multiple of 4 rows, not \(blockRows)")
        span = (4 * groups.lowerBound)..<(4 * groups.upperBound)
        list = blocks
        self.blockRows = blockRows
    }

    /// The row of entry `i` (an index into `span`).
    @inline(__always)
    private func row(_ i: Int) -> Int {
        guard let list else { return i }
        if blockRows == 0 { return list[i] }
        return list[i / blockRows] * blockRows + i % blockRows
    }

    /// Groups (of listed rows or of blocks) fetched ahead of the group being computed.
    static let prefetchGroups = 2

    /// Whether the rows are a selection (listed rows or blocks), which the hardware prefetcher cannot follow.
    var isSelection: Bool { list != nil }

    /// Calls `body` with each group of four row indices of `w` and how many of them are real; a selection's rows are
    /// prefetched ahead unless `prefetching` is false (a kernel that prefetches them itself).
    @inline(__always)
    func forEachGroup(of w: WeightLayout, prefetching: Bool = true, _ body: ((Int, Int, Int, Int), Int) -> Void) {
        let s = span.lowerBound
        let quarter = span.count / 4
        let rest = span.count - 4 * quarter
        @inline(__always)
        func group(_ g: Int) -> (Int, Int, Int, Int) {
            (row(s + g), row(s + g + quarter), row(s + g + 2 * quarter), row(s + g + 3 * quarter))
        }
        @inline(__always)
        func prefetch(_ g: Int) {
            guard g < quarter else { return }
            let r = group(g)
            sieve_prefetch(w.row(r.0), w.rowBytes)
            sieve_prefetch(w.row(r.1), w.rowBytes)
            sieve_prefetch(w.row(r.2), w.rowBytes)
            sieve_prefetch(w.row(r.3), w.rowBytes)
        }
        if list != nil && prefetching {
            for g in 0..<min(quarter, Self.prefetchGroups) { prefetch(g) }
            for g in 0..<quarter {
                prefetch(g + Self.prefetchGroups)
                body(group(g), 4)
            }
        } else {
            for g in 0..<quarter { body(group(g), 4) }
        }
        if rest > 0 {
            let i = s + 4 * quarter
            let last = span.upperBound - 1
            body((row(i), row(min(i + 1, last)), row(min(i + 2, last)), row(last)), rest)
        }
    }

    /// Calls `body` with contiguous ranges covering the rows: the range itself, the rows of each block, or each
    /// listed row alone.
    @inline(__always)
    func forEachRange(_ body: (Range<Int>) -> Void) {
        guard let list else { return body(span) }
        if blockRows > 0 {
            var i = span.lowerBound
            while i < span.upperBound {
                let end = min(span.upperBound, (i / blockRows + 1) * blockRows)
                let first = row(i)
                body(first..<(first + end - i))
                i = end
            }
            return
        }
        for i in span { body(list[i]..<(list[i] + 1)) }
    }
}
