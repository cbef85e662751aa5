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
