import Kernels
import Tensor

extension Graph {
    /// Floating-point operations (2 per multiply-add) of the convolution-like layers for these
    /// value shapes; element-wise work is not counted.
    public func flops(shapes: [Shape?]) -> Double {
        var total = 0.0
        for node in nodes {
            guard let out = shapes[node.output.index] else { continue }
            switch node.op {
            case .convolution(let c):
                total += 2 * Double(out.count) * Double(c.inChannels / c.groups * c.kernel.h * c.kernel.w)
            case .deconvolution(let d):
                if let input = shapes[node.inputs[0].index] {
                    total += 2 * Double(input.count) * Double(d.outChannels * d.kernel.h * d.kernel.w)
                }
            case .innerProduct(let ip):
                total += 2 * Double(out.n) * Double(ip.outFeatures * ip.inFeatures)
            default:
                break
            }
        }
        return total
    }
}
