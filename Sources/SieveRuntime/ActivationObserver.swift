/// Rows of floats that the runtime lends an `ActivationObserver` for the duration of one call: `tokens` rows of
/// `width` values, row `t` starting at `base + t·rowStride`. The memory belongs to the runtime and is only valid
/// until the call returns; an observer copies what it keeps.
public struct ObservedRows {
    /// The first value of row 0.
    public let base: UnsafePointer<Float>
    /// Number of rows (tokens of the batch).
    public let tokens: Int
    /// Values per row.
    public let width: Int
    /// Distance in floats between consecutive rows (at least `width`).
    public let rowStride: Int

    /// Describes `tokens` rows of `width` floats at `base`, `rowStride` apart (default: contiguous rows).
    public init(base: UnsafePointer<Float>, tokens: Int, width: Int, rowStride: Int? = nil) {
        precondition(tokens >= 0 && width >= 0, "ObservedRows needs non-negative sizes")
        precondition((rowStride ?? width) >= width, "row stride \(rowStride ?? width) is shorter than a row of \(width)")
        self.base = base
        self.tokens = tokens
        self.width = width
        self.rowStride = rowStride ?? width
    }

    /// Row `t`.
    @inlinable
    public func row(_ t: Int) -> UnsafeBufferPointer<Float> {
        assert(t >= 0 && t < tokens, "row \(t) outside 0..<\(tokens)")
        return UnsafeBufferPointer(start: base + t * rowStride, count: width)
    }
}

/// Receives the activations of a dense forward pass, block by block, so that calibration can record what
/// contextual-sparsity predictors need. The runtime calls it only when an observer is set; it never changes
/// what the forward pass computes.
///
/// For every batch of consecutive tokens of one sequence (a prefill chunk, or a single decoded token) and for every
/// block `l` in increasing order, the runtime calls, in this order:
/// 1. `observeBlockInput` — the residual stream entering block `l`, before its first norm (`[tokens, hidden]`);
///    for block 0 this is the embedding output.
/// 2. `observeAttentionOutput` — the attention output of every head before the output projection
///    (`[tokens, heads·headDim]`, head `h` in columns `h·headDim ..< (h+1)·headDim`; the input of `o`).
/// 3. `observeFeedForwardActivation` — the FFN intermediate activation, the input of the down projection
///    (`[tokens, ff]`, neurons in the dense order of the graph): `act(gate·x̂) ⊙ (up·x̂)` for gated FFNs,
///    `act(up·x̂ + b)` for ReLU/GELU FFNs, where `x̂` is the normed input of the FFN.
///
/// All three calls of a batch carry the same `firstPosition` (the sequence position of row 0; 0 starts a new
/// sequence) and the same token count. Calls come from the thread that runs the forward pass, between parallel
/// regions, never concurrently.
public protocol ActivationObserver: AnyObject {
    /// The residual-stream input of block `block` for the batch's tokens.
    func observeBlockInput(block: Int, firstPosition: Int, rows: ObservedRows)
    /// The per-head attention output (before the output projection) of block `block`.
    func observeAttentionOutput(block: Int, firstPosition: Int, rows: ObservedRows)
    /// The FFN intermediate activation (the input of the down projection) of block `block`.
    func observeFeedForwardActivation(block: Int, firstPosition: Int, rows: ObservedRows)
}
