import Kernels
import Tensor

/// Ops that move data without arithmetic: pixel shuffle, crop, concatenation.
enum DataMovementKernels {
    /// Depth-to-space in PyTorch order; with `residual`, adds the nearest-upsampled residual
    /// (`residual[c, Y/r, X/r]`) in the same pass.
    static func pixelShuffle(_ r: Int, input: FloatPointer, inShape: Shape, residual: FloatPointer?,
                             output: FloatPointer, outShape: Shape, parallel: Parallel) {
        let (ih, iw, oc, oh, ow) = (inShape.h, inShape.w, outShape.c, outShape.h, outShape.w)
        let plane = ih * iw
        // One task per input row: images have few channels (3), and per-channel tasks left one
        // of two threads with twice the work. Each output row is written front to back.
        parallel.run(outShape.n * oc * ih) { task in
            let y = task % ih, c = (task / ih) % oc, n = task / (ih * oc)
            let dst = output.advanced(by: (n * oc + c) * oh * ow)
            let rrow = residual.map { $0.advanced(by: ((n * oc + c) * ih + y) * iw) }
            for i in 0..<r {
                let drow = dst + (y * r + i) * ow
                let src = input.advanced(by: ((n * inShape.c + c * r * r + i * r) * ih + y) * iw)
                if let rrow {
                    for x in 0..<iw {
                        let rv = rrow[x]
                        for j in 0..<r { drow[x * r + j] = src[j * plane + x] + rv }
                    }
                } else {
                    for x in 0..<iw {
                        for j in 0..<r { drow[x * r + j] = src[j * plane + x] }
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
