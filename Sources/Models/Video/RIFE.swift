// RIFE frame interpolation (Huang et al., "Real-Time Intermediate Flow Estimation for Video
// Frame Interpolation", ECCV 2022, https://github.com/hzwer/ECCV2022-RIFE): the IFNet of RIFE
// v4 (Practical-RIFE 4.0 layout), three coarse-to-fine IFBlocks that estimate the two
// intermediate flows and a fusion mask, with backward warping between them.
import Foundation
import Kernels
import ModelKit
import Tensor

/// RIFE v4's IFNet with weights by their checkpoint names.
///
/// Published weights (`flownet.pkl` of Practical-RIFE 4.0) are a PyTorch state dict: strip the
/// `module.` prefix, keep the `block0`...`block2` tensors (`block_tea` is only for training) and
/// pass them to ``init(weights:pool:)`` as f32 tensors of the same shapes; the
/// ConvTranspose2d weights stay in PyTorch's `(in, out, kh, kw)` layout. No package index wheel
/// ships them, so nothing here downloads them; the architecture is tested with generated
/// weights.
public struct RIFE: Sendable {
    /// One IFBlock: two stride-2 convolutions, eight 3×3 convolutions with a residual, and a
    /// stride-2 transposed convolution to 4 flow channels and 1 mask channel.
    struct Block: Sendable {
        let down: [Conv2D]
        let body: [Conv2D]
        let up: Deconv2D
    }

    /// (input channels, width) of the three blocks: images and timestep (7) first, then also
    /// the mask (1) and the flow so far (4).
    public static let blockShapes = [(7, 192), (12, 128), (12, 96)]
    /// Each block's working scale (input downsampled by it).
    static let scales = [4, 2, 1]
    /// Frames are padded to a multiple of this (two stride-2 layers at scale 4, and the
    /// transposed convolution's ×2).
    public static let alignment = 32

    let blocks: [Block]
    let pool: ComputePool

    /// The checkpoint names and shapes IFNet needs, in load order.
    public static var parameterShapes: [(String, [Int])] {
        var out: [(String, [Int])] = []
        for (b, (input, c)) in blockShapes.enumerated() {
            out += [("block\(b).conv0.0.0.weight", [c / 2, input, 3, 3]), ("block\(b).conv0.0.0.bias", [c / 2]),
                    ("block\(b).conv0.1.0.weight", [c, c / 2, 3, 3]), ("block\(b).conv0.1.0.bias", [c])]
            for k in 0..<8 { out += [("block\(b).convblock.\(k).0.weight", [c, c, 3, 3]), ("block\(b).convblock.\(k).0.bias", [c])] }
            out += [("block\(b).lastconv.weight", [c, 5, 4, 4]), ("block\(b).lastconv.bias", [5])]
        }
        return out
    }

    /// Builds the network, checking the weights strictly.
    /// - Parameters:
    ///   - weights: tensors by checkpoint name (see ``parameterShapes``).
    ///   - pool: the compute pool every layer runs on.
    /// - Throws: `ModelError` `.weightsInvalid` naming a missing, unused or mis-shaped tensor.
    public init(weights: [String: Tensor], pool: ComputePool) throws {
        var used = Set<String>()
        func tensor(_ name: String, _ shape: [Int]) throws -> Tensor {
            guard let t = weights[name] else { throw ModelError(.weightsInvalid, "RIFE: missing tensor \(name)") }
            guard t.shape.dims == shape else {
                throw ModelError(.weightsInvalid, "RIFE: \(name) has shape \(t.shape.dims), expected \(shape)")
            }
            used.insert(name)
            return t.converted(to: .f32)
        }
        let leaky = Activation.leakyReLU(slope: 0.2)
        var blocks: [Block] = []
        for (b, (input, c)) in Self.blockShapes.enumerated() {
            func conv(_ name: String, _ cin: Int, _ cout: Int, stride: Int) throws -> Conv2D {
                try Conv2D(weights: tensor("\(name).weight", [cout, cin, 3, 3]), bias: tensor("\(name).bias", [cout]),
                           parameters: ConvolutionParameters(inputChannels: cin, outputChannels: cout, kernel: (3, 3),
                                                             stride: (stride, stride), padding: Padding(1)),
                           activation: leaky)
            }
            let down = [try conv("block\(b).conv0.0.0", input, c / 2, stride: 2), try conv("block\(b).conv0.1.0", c / 2, c, stride: 2)]
            let body = try (0..<8).map { try conv("block\(b).convblock.\($0).0", c, c, stride: 1) }
            // PyTorch's ConvTranspose2d weight is (in, out, kh, kw); Deconv2D wants (out, in, kh, kw).
            let torch = try tensor("block\(b).lastconv.weight", [c, 5, 4, 4])
            let swapped = Tensor(uninitialized: Shape([5, c, 4, 4]))
            for i in 0..<c { for o in 0..<5 { for k in 0..<16 { swapped.floatPointer[(o * c + i) * 16 + k] = torch.floatPointer[(i * 5 + o) * 16 + k] } } }
            let up = try Deconv2D(weights: swapped, bias: tensor("block\(b).lastconv.bias", [5]),
                                  parameters: ConvolutionParameters(inputChannels: c, outputChannels: 5, kernel: (4, 4),
                                                                    stride: (2, 2), padding: Padding(1)))
            blocks.append(Block(down: down, body: body, up: up))
        }
        if let unused = Set(weights.keys).subtracting(used).sorted().first {
            throw ModelError(.weightsInvalid, "RIFE: unused tensor \(unused)")
        }
        self.blocks = blocks
        self.pool = pool
    }

    /// The frame at `timestep` between two frames.
    /// - Parameters:
    ///   - first: `[1, 3, H, W]` RGB in [0, 1].
    ///   - second: the same shape.
    ///   - timestep: 0 (first) ... 1 (second); 0.5 is the middle.
    /// - Returns: `[1, 3, H, W]`.
    /// - Throws: `ModelError` `.invalidInput` for frames of different shapes, kernel errors.
    public func interpolate(_ first: Tensor, _ second: Tensor, timestep: Float = 0.5) throws -> Tensor {
        guard first.shape == second.shape, first.shape.c == 3, first.shape.n == 1 else {
            throw ModelError(.invalidInput, "RIFE: frames \(first.shape) and \(second.shape) must both be [1, 3, H, W]")
        }
        let (h, w) = (first.shape.h, first.shape.w)
        let ph = (h + Self.alignment - 1) / Self.alignment * Self.alignment
        let pw = (w + Self.alignment - 1) / Self.alignment * Self.alignment
        let img0 = Self.zeroPadded(first, height: ph, width: pw), img1 = Self.zeroPadded(second, height: ph, width: pw)
        let time = Tensor(shape: Shape(n: 1, c: 1, h: ph, w: pw), repeating: timestep)
        var flow: Tensor?
        var mask: Tensor?
        var warped0 = img0, warped1 = img1
        for (b, block) in blocks.enumerated() {
            if let f = flow, let m = mask {
                let (df, dm) = try run(block, Self.concat([warped0, warped1, time, m]), flow: f, scale: Self.scales[b])
                flow = Self.add(f, df)
                mask = Self.add(m, dm)
            } else {
                (flow, mask) = try run(block, Self.concat([img0, img1, time]), flow: nil, scale: Self.scales[b])
            }
            warped0 = BackwardWarp.warp(img0, flow: flow!, flowChannel: 0, pool: pool)
            warped1 = BackwardWarp.warp(img1, flow: flow!, flowChannel: 2, pool: pool)
        }
        let merged = Tensor(uninitialized: Shape(n: 1, c: 3, h: h, w: w))
        let m = mask!.floatPointer, a = warped0.floatPointer, bp = warped1.floatPointer, o = merged.floatPointer
        for c in 0..<3 {
            for y in 0..<h {
                for x in 0..<w {
                    let i = y * pw + x
                    let s = 1 / (1 + Foundation.exp(-m[i]))
                    o[(c * h + y) * w + x] = a[c * ph * pw + i] * s + bp[c * ph * pw + i] * (1 - s)
                }
            }
        }
        return merged
    }

    /// One IFBlock at `scale`: returns the flow (4 channels, in full-resolution pixels) and the
    /// mask logits, both at the input's resolution.
    func run(_ block: Block, _ input: Tensor, flow: Tensor?, scale: Int) throws -> (Tensor, Tensor) {
        let (h, w) = (input.shape.h, input.shape.w)
        let down = ResizeOptions(mode: .bilinear, scale: (Float(scale), Float(scale)))
        var x = scale == 1 ? input : try Ops.resize(input, height: h / scale, width: w / scale, options: down, pool: pool)
        if let flow {
            let f = scale == 1 ? flow : try Ops.resize(flow, height: h / scale, width: w / scale, options: down, pool: pool)
            x = Self.concat([x, Self.scaled(f, by: 1 / Float(scale))])
        }
        for conv in block.down { x = try conv(x, pool: pool) }
        var y = x
        for conv in block.body { y = try conv(y, pool: pool) }
        let features = Self.add(y, x)
        let up = try block.up(features, pool: pool)
        let factor = Float(scale * 2)
        let full = try Ops.resize(up, height: h, width: w, options: ResizeOptions(mode: .bilinear, scale: (1 / factor, 1 / factor)), pool: pool)
        let plane = h * w
        let flowOut = Tensor(uninitialized: Shape(n: 1, c: 4, h: h, w: w))
        let maskOut = Tensor(uninitialized: Shape(n: 1, c: 1, h: h, w: w))
        for i in 0..<(4 * plane) { flowOut.floatPointer[i] = full.floatPointer[i] * factor }
        maskOut.floatPointer.update(from: full.floatPointer + 4 * plane, count: plane)
        return (flowOut, maskOut)
    }

    static func concat(_ parts: [Tensor]) -> Tensor {
        let (h, w) = (parts[0].shape.h, parts[0].shape.w)
        let out = Tensor(uninitialized: Shape(n: 1, c: parts.reduce(0) { $0 + $1.shape.c }, h: h, w: w))
        var offset = 0
        for p in parts {
            (out.floatPointer + offset).update(from: p.floatPointer, count: p.count)
            offset += p.count
        }
        return out
    }

    static func add(_ a: Tensor, _ b: Tensor) -> Tensor {
        let out = Tensor(uninitialized: a.shape)
        for i in 0..<a.count { out.floatPointer[i] = a.floatPointer[i] + b.floatPointer[i] }
        return out
    }

    static func scaled(_ a: Tensor, by s: Float) -> Tensor {
        let out = Tensor(uninitialized: a.shape)
        for i in 0..<a.count { out.floatPointer[i] = a.floatPointer[i] * s }
        return out
    }

    /// Pads bottom and right with zeros, as RIFE's inference script does.
    static func zeroPadded(_ t: Tensor, height: Int, width: Int) -> Tensor {
        let s = t.shape
        if s.h == height && s.w == width { return t }
        let out = Tensor(zeros: Shape(n: 1, c: s.c, h: height, w: width))
        for c in 0..<s.c {
            for y in 0..<s.h {
                (out.floatPointer + (c * height + y) * width).update(from: t.floatPointer + (c * s.h + y) * s.w, count: s.w)
            }
        }
        return out
    }
}
