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
        if aShape == bShape {
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
        chunks(count, parallel) { s, end in
            switch e {
            case .sum(let k):
                let c0: Float = k.isEmpty ? 1 : k[0]
                for i in s..<end { output[i] = c0 * inputs[0][i] }
                for j in 1..<inputs.count {
                    let cj: Float = k.isEmpty ? 1 : k[j]
                    let src = inputs[j]
                    for i in s..<end { output[i] += cj * src[i] }
                }
            case .product:
                for i in s..<end { output[i] = inputs[0][i] }
                for j in 1..<inputs.count { for i in s..<end { output[i] *= inputs[j][i] } }
            case .max:
                for i in s..<end { output[i] = inputs[0][i] }
                for j in 1..<inputs.count { for i in s..<end { output[i] = max(output[i], inputs[j][i]) } }
            }
        }
    }

    static func channelScale(input: FloatPointer, scale: FloatPointer, output: FloatPointer, shape: Shape, parallel: Parallel) {
        let plane = shape.h * shape.w
        parallel.run(shape.n * shape.c) { t in
            let s = scale[t]
            for i in t * plane..<(t + 1) * plane { output[i] = input[i] * s }
        }
    }
}
