import CKernels
import Tensor

/// A fully connected layer (ncnn InnerProduct, PyTorch Linear) with weights packed once.
///
/// Weights are `(outputs, inputs)` row-major. An input `[N, ...]` is flattened to `N` rows of
/// `inputs` values; the output is `[N, outputs]`.
public struct InnerProduct: Sendable {
    /// Output features.
    public let outputs: Int
    /// Input features per row.
    public let inputs: Int
    /// Activation after the bias.
    public let activation: Activation
    let packed: Tensor
    let bias: Tensor?

    /// Packs `(outputs, inputs)` weights.
    /// - Throws: ``KernelError`` when the counts do not match.
    public init(weights: Tensor, bias: Tensor?, outputs: Int, activation: Activation = .none) throws {
        guard outputs > 0, weights.count % outputs == 0, bias.map({ $0.count == outputs }) ?? true else {
            throw KernelError(.shapeMismatch, "InnerProduct: weights \(weights.shape), bias \(bias?.shape.description ?? "none") for \(outputs) outputs")
        }
        try activation.validate(channels: outputs, op: "InnerProduct")
        self.outputs = outputs
        inputs = weights.count / outputs
        self.activation = activation
        let w = weights.dtype == .f32 ? weights : weights.converted(to: .f32)
        packed = Tensor(zeros: [pg_sgemm_packed_size(Int32(outputs), Int32(inputs))])
        pg_sgemm_pack_a(w.floatPointer, inputs, Int32(outputs), Int32(inputs), packed.floatPointer)
        self.bias = bias.map { $0.dtype == .f32 ? $0 : $0.converted(to: .f32) }
    }

    /// `y[n] = activation(W x[n] + b)` for each of the N rows.
    /// - Throws: ``KernelError`` when the input's element count is not a multiple of ``inputs``.
    public func callAsFunction(_ x: Tensor, pool: ComputePool) throws -> Tensor {
        try checkF32(x, op: "InnerProduct")
        let rows = x.shape.rank > 1 ? x.shape.dims[0] : 1
        guard x.count == rows * inputs else {
            throw KernelError(.shapeMismatch, "InnerProduct: input \(x.shape) for \(inputs) inputs")
        }
        // Computed as Y^T (outputs x rows) = W (outputs x inputs) * X^T (inputs x rows).
        let xt = Tensor(zeros: [inputs, rows])
        let src = x.floatPointer, t = xt.floatPointer
        for r in 0..<rows { for k in 0..<inputs { t[k * rows + r] = src[r * inputs + k] } }
        let yt = Tensor(zeros: [outputs, rows])
        let yp = yt.floatPointer, ap = packed.floatPointer, bp: UnsafePointer<Float>? = bias.map { UnsafePointer($0.floatPointer) }
        let (outs, ins) = (outputs, inputs)
        activation.withC(channels: outputs) { act in
            // Split the outputs in whole micro-kernel panels across threads.
            let panels = (outs + 7) / 8
            pool.parallelFor(panels, minimumPerPart: 4) { r in
                let m0 = r.lowerBound * 8, m1 = min(outs, r.upperBound * 8)
                var a = act.pointee
                if let s = a.slopes { a.slopes = s + m0 }
                withUnsafePointer(to: a) { ap2 in
                    pg_sgemm_packed(Int32(m1 - m0), Int32(rows), Int32(ins), ap + m0 * ins, t, rows,
                                    yp + m0 * rows, rows, bp.map { $0 + m0 }, ap2, 0)
                }
            }
        }
        let out = Tensor(zeros: [rows, outputs])
        let o = out.floatPointer
        for r in 0..<rows { for m in 0..<outputs { o[r * outputs + m] = yp[m * rows + r] } }
        return out
    }
}

extension Reference {
    /// Fully connected layer by definition; weights `(outputs, inputs)`.
    public static func innerProduct(_ x: Tensor, weights: Tensor, bias: Tensor?, outputs: Int,
                                    activation: Activation = .none) -> Tensor {
        let rows = x.shape.rank > 1 ? x.shape.dims[0] : 1, inputs = x.count / rows
        let xv = x.toArray(), w = weights.toArray(), b = bias?.toArray()
        var out = [Float](repeating: 0, count: rows * outputs)
        for r in 0..<rows { for o in 0..<outputs {
            var s: Double = 0
            for k in 0..<inputs { s += Double(w[o * inputs + k]) * Double(xv[r * inputs + k]) }
            out[r * outputs + o] = activation.apply(Float(s) + (b?[o] ?? 0), channel: o)
        } }
        return Tensor(shape: [rows, outputs], values: out)
    }
}
