/// A tensor shape in row-major order, outermost dimension first (PyTorch's order; GGUF's `ne` reversed).
public struct Shape: Hashable, Sendable, CustomStringConvertible, ExpressibleByArrayLiteral {
    /// The dimensions, outermost first.
    public var dims: [Int]

    /// A shape of the given dimensions, outermost first.
    public init(_ dims: [Int]) { self.dims = dims }
    public init(arrayLiteral elements: Int...) { self.dims = elements }

    /// Number of dimensions.
    public var rank: Int { dims.count }

    /// The product of the dimensions, or nil when a dimension is negative or the product overflows.
    public var checkedElementCount: Int? {
        var count = 1
        for d in dims {
            guard d >= 0 else { return nil }
            let (p, overflow) = count.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            count = p
        }
        return count
    }

    /// The product of the dimensions. Shapes built by readers are validated, so this does not overflow.
    public var elementCount: Int { checkedElementCount ?? 0 }

    /// The innermost (contiguous) dimension; 1 for scalars.
    public var innermost: Int { dims.last ?? 1 }

    /// Rows when viewed as a matrix `[elementCount / innermost, innermost]`.
    public var rows: Int { innermost == 0 ? 0 : elementCount / innermost }

    public var description: String { "[" + dims.map(String.init).joined(separator: ", ") + "]" }
}
