import Foundation
import SieveCore

/// Rotary position embedding (RoPE) applied in place to the query and key heads of a token.
///
/// Pair `i` of the first `rotaryDimension` values of each head is rotated by `position · base^(−2i/rotaryDimension)`,
/// a frequency that `scaling` may divide (linear, Llama 3.1's rule or GGUF frequency factors: `RoPEScaling`);
/// the remaining values are left unchanged (partial rotary, e.g. GPT-NeoX/Phi). The two pairing conventions:
/// - `.halfSplit`: pairs `(x[i], x[i + rotaryDimension/2])` — HF `rotate_half`, llama.cpp NEOX mode (LLaMA and
///   Qwen2 checkpoints in HF layout, GPT-NeoX);
/// - `.interleaved`: pairs `(x[2i], x[2i+1])` — GPT-J, llama.cpp's normal mode (LLaMA GGUFs, whose Q/K rows
///   llama.cpp's converter permuted).
///
/// Cosines and sines are tabulated for positions `0..<maxPositions` at creation (angles in Double from the f32
/// inverse frequencies, as HF computes them). LongRoPE takes its long factors when `maxPositions` exceeds its
/// original context (llama.cpp's rule: the context decides) and multiplies the cosines and sines by its attention
/// factor.
public struct RotaryEmbedding: Sendable {
    /// Which elements form a rotated pair.
    public enum Layout: String, Sendable {
        /// Pairs `(x[i], x[i + rotaryDimension/2])` (HF `rotate_half`), or `(x[2i], x[2i+1])` (GPT-J).
        case halfSplit, interleaved
    }

    /// Values per head.
    public let headDimension: Int
    /// Leading values of each head that are rotated (even, ≤ `headDimension`).
    public let rotaryDimension: Int
    /// `rope.freq_base` / `rope_theta`.
    public let base: Float
    /// Pairing convention.
    public let layout: Layout
    /// Frequency scaling for a longer context, LongRoPE resolved to its factors for `maxPositions`; nil for none.
    public let scaling: RoPEScaling?
    /// Multiplier of the cosines and sines (LongRoPE's attention factor; 1 otherwise).
    public let attentionFactor: Double
    /// Positions covered by the table.
    public let maxPositions: Int
    /// Per position, `rowLength` floats: `.halfSplit` stores `cos[pair]` then `sin[pair]`; `.interleaved` stores
    /// each pair's cosine twice then its sine as `(−sin, +sin)`, so that both layouts rotate with whole vectors.
    private let table: [Float]
    private let rowLength: Int

    /// Tabulates the rotation for `maxPositions` positions.
    public init(headDimension: Int, rotaryDimension: Int? = nil, base: Float = 10_000, scaling: RoPEScaling? = nil,
                layout: Layout, maxPositions: Int) {
        let rot = rotaryDimension ?? headDimension
        precondition(rot > 0 && rot % 2 == 0 && rot <= headDimension, "rotary dimension \(rot) must be even and at most \(headDimension)")
        precondition(maxPositions > 0, "maxPositions must be positive")
        self.headDimension = headDimension
        self.rotaryDimension = rot
        self.base = base
        let resolved = scaling?.resolved(context: maxPositions)
        self.scaling = resolved
        self.attentionFactor = scaling?.attentionFactor ?? 1
        self.layout = layout
        self.maxPositions = maxPositions
        let pairs = rot / 2
        let rowLength = layout == .halfSplit ? rot : 2 * rot
        let frequencies = RoPEScaling.inverseFrequencies(base: base, dimensions: rot, scaling: resolved)
        let factor = Float(attentionFactor)
        var table = [Float](repeating: 0, count: maxPositions * rowLength)
        for p in 0..<maxPositions {
            let row = p * rowLength
            for i in 0..<pairs {
                let angle = Double(p) * Double(frequencies[i])
                let c = Float(Foundation.cos(angle)) * factor, s = Float(Foundation.sin(angle)) * factor
                switch layout {
                case .halfSplit:
                    table[row + i] = c
                    table[row + pairs + i] = s
                case .interleaved:
                    table[row + 2 * i] = c
                    table[row + 2 * i + 1] = c
                    table[row + rot + 2 * i] = -s
                    table[row + rot + 2 * i + 1] = s
                }
            }
        }
        self.table = table
        self.rowLength = rowLength
    }

    /// Rotates `heads` heads of `x` (head `h` at `x + h·headStride`, default `headDimension`) for `position`.
    public func apply(_ x: UnsafeMutablePointer<Float>, heads: Int, position: Int, headStride: Int? = nil) {
        precondition(position >= 0 && position < maxPositions, "position \(position) outside the RoPE table (0..<\(maxPositions))")
        let stride = headStride ?? headDimension
        let pairs = rotaryDimension / 2
        let rot = rotaryDimension
        table.withUnsafeBufferPointer { t in
            let row = t.baseAddress! + position * rowLength
            for h in 0..<heads {
                let v = x + h * stride
                var i = 0
                switch layout {
                case .halfSplit:
                    while i + 16 <= pairs {
                        let a = v.load16(i), b = v.load16(i + pairs), c = row.load16(i), s = row.load16(pairs + i)
                        v.store16(a * c - b * s, i)
                        v.store16(b * c + a * s, i + pairs)
                        i += 16
                    }
                    while i < pairs {
                        let a = v[i], b = v[i + pairs], c = row[i], s = row[pairs + i]
                        v[i] = a * c - b * s
                        v[i + pairs] = b * c + a * s
                        i += 1
                    }
                case .interleaved:
                    while i + 16 <= rot {
                        let a = v.load16(i)
                        // Swap the two values of each pair: rotate each 64-bit lane by 32 bits.
                        let bits = unsafeBitCast(a, to: SIMD8<UInt64>.self)
                        let swapped = unsafeBitCast((bits &<< 32) | (bits &>> 32), to: SIMD16<Float>.self)
                        v.store16(a * row.load16(i) + swapped * row.load16(rot + i), i)
                        i += 16
                    }
                    while i < rot {
                        let a = v[i], b = v[i + 1], c = row[i], s = row[rot + i + 1]
                        v[i] = a * c - b * s
                        v[i + 1] = b * c + a * s
                        i += 2
                    }
                }
            }
        }
    }

    /// Rotates `tokens` consecutive tokens (token `t` at `x + t·tokenStride`, position `firstPosition + t`).
    public func apply(_ x: UnsafeMutablePointer<Float>, heads: Int, tokens: Int, tokenStride: Int, firstPosition: Int, headStride: Int? = nil) {
        for t in 0..<tokens { apply(x + t * tokenStride, heads: heads, position: firstPosition + t, headStride: headStride) }
    }

    /// Scalar reference: angles and their cosines computed directly, in Double.
    public func applyReference(_ x: UnsafeMutablePointer<Float>, heads: Int, position: Int, headStride: Int? = nil) {
        let stride = headStride ?? headDimension
        let pairs = rotaryDimension / 2
        let frequencies = RoPEScaling.inverseFrequencies(base: base, dimensions: rotaryDimension, scaling: scaling)
        for h in 0..<heads {
            let v = x + h * stride
            for i in 0..<pairs {
                let angle = Double(position) * Double(frequencies[i])
                let c = Foundation.cos(angle) * attentionFactor, s = Foundation.sin(angle) * attentionFactor
                let (ia, ib) = layout == .halfSplit ? (i, i + pairs) : (2 * i, 2 * i + 1)
                let a = Double(v[ia]), b = Double(v[ib])
                v[ia] = Float(a * c - b * s)
                v[ib] = Float(b * c + a * s)
            }
        }
    }
}
