import Foundation
import SieveCore
import SieveKernels

// TEMPORARY: per-token kernels the runtime needs before SieveKernels provides them (norms, RoPE, activations,
// attention over the cache). Plain, correct implementations; each is replaced by the SieveKernels version as it
// lands, and this file is then deleted.

/// Activation functions over buffers.
enum ActivationKernel {
    @inline(__always)
    static func value(_ activation: Activation, _ x: Float) -> Float {
        switch activation {
        case .silu: return x / (1 + exp(-x))
        case .relu: return max(x, 0)
        case .gelu: return 0.5 * x * (1 + erf(x / Float(2).squareRoot()))
        case .geluTanh:
            let c = Float((2 / Double.pi).squareRoot())
            return 0.5 * x * (1 + tanh(c * (x + 0.044715 * x * x * x)))
        }
    }

    static func apply(_ activation: Activation, _ values: UnsafeMutableBufferPointer<Float>) {
        for i in values.indices { values[i] = value(activation, values[i]) }
    }

    /// `up[i] = act(gate[i]) · up[i]`.
    static func gated(_ activation: Activation, gate: UnsafeBufferPointer<Float>, up: UnsafeMutableBufferPointer<Float>) {
        for i in up.indices { up[i] = value(activation, gate[i]) * up[i] }
    }
}

/// Attention of one query head over the cached positions of its KV head.
enum AttentionKernel {
    static func head(query: UnsafePointer<Float>, cache: KVCache, layer: Int, kvHead: Int, positions: Int, scale: Float,
                     scores: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>) {
        let d = cache.headDim
        var maxScore = -Float.infinity
        for j in 0..<positions {
            let k = cache.row(layer: layer, head: kvHead, position: j, value: false)
            var s: Float = 0
            switch cache.type {
            case .f32:
                let kf = k.assumingMemoryBound(to: Float.self)
                for c in 0..<d { s += query[c] * kf[c] }
            case .f16:
                let kh = k.assumingMemoryBound(to: UInt16.self)
                for c in 0..<d { s += query[c] * HalfPrecision.f16ToFloat(kh[c]) }
            }
            s *= scale
            scores[j] = s
            maxScore = max(maxScore, s)
        }
        var total: Float = 0
        for j in 0..<positions {
            let e = exp(scores[j] - maxScore)
            scores[j] = e
            total += e
        }
        let inverse = 1 / total
        for c in 0..<d { output[c] = 0 }
        for j in 0..<positions {
            let w = scores[j] * inverse
            let v = cache.row(layer: layer, head: kvHead, position: j, value: true)
            switch cache.type {
            case .f32:
                let vf = v.assumingMemoryBound(to: Float.self)
                for c in 0..<d { output[c] += w * vf[c] }
            case .f16:
                let vh = v.assumingMemoryBound(to: UInt16.self)
                for c in 0..<d { output[c] += w * HalfPrecision.f16ToFloat(vh[c]) }
            }
        }
    }
}
