import Kernels
import Tensor

/// Ops that move data without arithmetic: pixel shuffle, crop, concatenation.
enum DataMovementKernels {
    /// Depth-to-space in PyTorch order; with `residual`, adds the nearest-upsampled residual
    /// (`residual[c, Y/r, X/r]`) in the same pass.
    static func pixelShuffle(_ r: Int, input: FloatPointer, inShape: Shape, residual: FloatPointer?,
                             output: FloatPointer, outShape: Shape, parallel: Parallel) {
        let (ih, iw, oc, oh, ow) = (inShape.h, inShape.w, outShape.c, outShape.h, outShape.w)
        parallel.run(outShape.n * oc) { task in
            let n = task / oc, c = task % oc
            let dst = output.advanced(by: (n * oc + c) * oh * ow)
            let res = residual.map { $0.advanced(by: (n * oc + c) * ih * iw) }
            for y in 0..<ih {
                for i in 0..<r {
                    let drow = dst + (y * r + i) * ow
                    for j in 0..<r {
                        let src = input.advanced(by: ((n * inShape.c + c * r * r + i * r + j) * ih + y) * iw)
                        if let res {
                            let rrow = res + y * iw
                            for x in 0..<iw { drow[x * r + j] = src[x] + rrow[x] }
                        } else {
                            for x in 0..<iw { drow[x * r + j] = src[x] }
                        }
                    }
                }
            }
        }
    }

    /// Copies the window at (offsetC, offsetH, offsetW) of `input`.
    static func crop(_ crop: Crop, input: FloatPointer, inShape: Shape, output: FloatPointer, outShape: Shape, parallel: Parallel) {
        let (oc, oh, ow) = (outShape.c, outShape.h, outShape.w)
        parallel.run(outShape.n * oc) { task in
            let n = task / oc, c = task % oc
            for y in 0..<oh {
                let src = input.advanced(by: ((n * inShape.c + c + crop.offsetC) * inShape.h + y + crop.offsetH) * inShape.w + crop.offsetW)
                let dst = output.advanced(by: ((n * oc + c) * oh + y) * ow)
                dst.update(from: src, count: ow)
            }
        }
    }

    /// Concatenates along channels.
    static func concat(inputs: [(FloatPointer, Shape)], output: FloatPointer, outShape: Shape, parallel: Parallel) {
        let plane = outShape.h * outShape.w
        var starts: [Int] = []
        var acc = 0
        for (_, s) in inputs { starts.append(acc); acc += s.c }
        parallel.run(outShape.n * inputs.count) { task in
            let n = task / inputs.count, k = task % inputs.count
            let (src, s) = inputs[k]
            let count = s.c * plane
            output.advanced(by: (n * outShape.c + starts[k]) * plane).update(from: src.advanced(by: n * count), count: count)
        }
    }
}

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

/// Pooling and fully connected layers.
enum ReductionKernels {
    static func pooling(_ p: Pooling, input: FloatPointer, inShape: Shape, output: FloatPointer, outShape: Shape, parallel: Parallel) {
        let (ih, iw, oh, ow) = (inShape.h, inShape.w, outShape.h, outShape.w)
        parallel.run(inShape.n * inShape.c) { t in
            let src = input.advanced(by: t * ih * iw), dst = output.advanced(by: t * oh * ow)
            if p.global {
                if p.kind == .average {
                    var sum: Float = 0
                    for i in 0..<ih * iw { sum += src[i] }
                    dst[0] = sum / Float(ih * iw)
                } else {
                    var m = -Float.infinity
                    for i in 0..<ih * iw { m = max(m, src[i]) }
                    dst[0] = m
                }
                return
            }
            for y in 0..<oh {
                for x in 0..<ow {
                    var acc: Float = p.kind == .max ? -.infinity : 0
                    for ky in 0..<p.kernel.h {
                        let sy = y * p.stride.h - p.padding.top + ky
                        if sy < 0 || sy >= ih { continue }
                        for kx in 0..<p.kernel.w {
                            let sx = x * p.stride.w - p.padding.left + kx
                            if sx < 0 || sx >= iw { continue }
                            let v = src[sy * iw + sx]
                            if p.kind == .max { acc = max(acc, v) } else { acc += v }
                        }
                    }
                    // Average over the full window (padding counted), as ncnn does by default.
                    dst[y * ow + x] = p.kind == .max ? acc : acc / Float(p.kernel.h * p.kernel.w)
                }
            }
        }
    }

    static func innerProduct(_ ip: FullyConnected, input: FloatPointer, output: FloatPointer, batch: Int) {
        ip.weights.withUnsafeBufferPointer { w in
            for n in 0..<batch {
                let x = input.advanced(by: n * ip.inFeatures)
                for o in 0..<ip.outFeatures {
                    var acc: Float = ip.bias.isEmpty ? 0 : ip.bias[o]
                    let row = w.baseAddress! + o * ip.inFeatures
                    for i in 0..<ip.inFeatures { acc += row[i] * x[i] }
                    output[n * ip.outFeatures + o] = ip.activation.apply(acc, channel: o)
                }
            }
        }
    }
}
