import Kernels

/// The element-wise tail of a layer: activation, then an optional scaled residual
/// (`scale * x + residualScale * r`, e.g. RRDB's `0.2 * conv + identity`).
struct Epilogue: Sendable {
    let activation: Activation
    let residual: Residual?

    @inline(__always)
    func apply(_ p: UnsafeMutablePointer<Float>, count: Int, channel: Int, residual r: UnsafeMutablePointer<Float>?,
               second r2: UnsafeMutablePointer<Float>? = nil) {
        switch activation {
        case .none: break
        case .relu: for x in 0..<count { p[x] = max(p[x], 0) }
        case .leakyReLU(let s): for x in 0..<count { let v = p[x]; p[x] = v < 0 ? v * s : v }
        case .prelu(let slopes):
            let s = slopes[slopes.count == 1 ? 0 : channel]
            for x in 0..<count { let v = p[x]; p[x] = v < 0 ? v * s : v }
        default: for x in 0..<count { p[x] = activation.apply(p[x], channel: channel) }
        }
        if let res = residual, let r, let c = res.secondScale, let r2 {
            let a = res.scale, b = res.residualScale
            for x in 0..<count { p[x] = a * p[x] + b * r[x] + c * r2[x] }
        } else if let res = residual, let r {
            let a = res.scale, b = res.residualScale
            if a == 1 {
                for x in 0..<count { p[x] += b * r[x] }
            } else {
                for x in 0..<count { p[x] = a * p[x] + b * r[x] }
            }
        }
    }
}
