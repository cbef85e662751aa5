import Kernels
import Tensor

/// Element-wise arithmetic ops.
enum ElementwiseKernels {
    /// Chunks of a flat range for workers.
    static func chunks(_ count: Int, _ parallel: Parallel, _ body: (Int, Int) -> Void) {
        let block = 1 << 14
        let tasks = (count + block - 1) / block
        parallel.run(tasks) { t in body(t * block, min(count, (t + 1) * block)) }
    }

    static func activation(_ act: Activation, input: FloatPointer, output: FloatPointer, shape: Shape, parallel: Parallel) {
        let plane = shape.h * shape.w
        parallel.run(shape.n * shape.c) { task in
            let c = task % shape.c
            let src = input.advanced(by: task * plane), dst = output.advanced(by: task * plane)
            for i in 0..<plane { dst[i] = act.apply(src[i], channel: c) }
        }
    }

    static func binary(_ kind: BinaryKind, a: FloatPointer, aShape: Shape, b: FloatPointer?, bShape: Shape?,
                       output: FloatPointer, outShape: Shape, parallel: Parallel) {
        guard let b, let bShape else {
            chunks(outShape.count, parallel) { s, e in for i in s..<e { output[i] = kind.apply(a[i], 0) } }
            return
        }
        if aShape == bShape, kind == .add {
            let (pa, pb, po) = (a.p, b.p, output.p)
            chunks(outShape.count, parallel) { s, e in for i in s..<e { po[i] = pa[i] + pb[i] } }
        } else if aShape == bShape {
            chunks(outShape.count, parallel) { s, e in for i in s..<e { output[i] = kind.apply(a[i], b[i]) } }
        } else if bShape.count == 1 {
            let v = b[0]
            chunks(outShape.count, parallel) { s, e in for i in s..<e { output[i] = kind.apply(a[i], v) } }
        } else if aShape.count == 1 {
            let v = a[0]
            chunks(outShape.count, parallel) { s, e in for i in s..<e { output[i] = kind.apply(v, b[i]) } }
        } else if bShape.h * bShape.w == 1 {
            // b holds one value per (image, channel).
            let plane = outShape.h * outShape.w
            parallel.run(outShape.n * outShape.c) { t in
                let v = b[t]
                for i in t * plane..<(t + 1) * plane { output[i] = kind.apply(a[i], v) }
            }
        } else {
            let plane = outShape.h * outShape.w
            parallel.run(outShape.n * outShape.c) { t in
                let v = a[t]
                for i in t * plane..<(t + 1) * plane { output[i] = kind.apply(v, b[i]) }
            }
        }
    }

    static func eltwise(_ e: Eltwise, inputs: [FloatPointer], output: FloatPointer, count: Int, parallel: Parallel) {
        let ptrs = inputs.map(\.p)
        let out = output.p
        let coefficients: [Float]
        if case .sum(let k) = e, !k.isEmpty { coefficients = k } else { coefficients = [Float](repeating: 1, count: inputs.count) }
        chunks(count, parallel) { s, end in
            let n = end - s
            let o = out + s
            switch e {
            case .sum:
                // One pass for the common two-input case (residual sums), plain loops the
                // compiler vectorizes.
                let a = ptrs[0] + s, c0 = coefficients[0]
                if ptrs.count == 2 {
                    let b = ptrs[1] + s, c1 = coefficients[1]
                    if c0 == 1 && c1 == 1 {
                        for i in 0..<n { o[i] = a[i] + b[i] }
                    } else {
                        for i in 0..<n { o[i] = c0 * a[i] + c1 * b[i] }
                    }
                    return
                }
                for i in 0..<n { o[i] = c0 * a[i] }
                for j in 1..<ptrs.count {
                    let src = ptrs[j] + s, cj = coefficients[j]
                    for i in 0..<n { o[i] += cj * src[i] }
                }
            case .product:
                let a = ptrs[0] + s
                for i in 0..<n { o[i] = a[i] }
                for j in 1..<ptrs.count { let src = ptrs[j] + s; for i in 0..<n { o[i] *= src[i] } }
            case .max:
                let a = ptrs[0] + s
                for i in 0..<n { o[i] = a[i] }
                for j in 1..<ptrs.count { let src = ptrs[j] + s; for i in 0..<n { o[i] = max(o[i], src[i]) } }
            }
        }
    }

    static func channelScale(input: FloatPointer, scale: FloatPointer, output: FloatPointer, shape: Shape, parallel: Parallel) {
        let plane = shape.h * shape.w
        let (src, dst) = (input.p, output.p)
        parallel.run(shape.n * shape.c) { t in
            let s = scale[t]
            let a = src + t * plane, o = dst + t * plane
            for i in 0..<plane { o[i] = a[i] * s }
        }
    }
}
