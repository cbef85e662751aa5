import Foundation
import Graph
import Kernels

/// Imports an ncnn model (`.param` text + `.bin` weights) into a ``Graph``.
///
/// Supported layers: Input, Convolution, ConvolutionDepthWise, Deconvolution, InnerProduct,
/// ReLU (with slope: leaky), PReLU, Sigmoid, Clip, PixelShuffle, Interp, BinaryOp, Eltwise,
/// Split, Crop, Concat, Pooling (global), Scale (per-channel, from a second blob), Noop.
/// Anything else is an error naming the layer and its line.
public enum NCNNImporter {
    /// Reads `.param` and `.bin` files.
    /// - Parameters:
    ///   - paramURL: the `.param` file.
    ///   - binURL: the `.bin` file.
    ///   - outputs: blob names to return; by default the blobs no layer reads.
    /// - Throws: ``ModelFormatError`` for unreadable, malformed or unsupported files.
    public static func importGraph(paramURL: URL, binURL: URL, outputs: [String]? = nil) throws -> Graph {
        let text: String
        let weights: Data
        do {
            text = try String(contentsOf: paramURL, encoding: .utf8)
            weights = try Data(contentsOf: binURL, options: .mappedIfSafe)
        } catch {
            throw ModelFormatError(.io, "cannot read \(paramURL.path) / \(binURL.path): \(error)")
        }
        let param = try NCNNParamFile(text: text, fileName: paramURL.lastPathComponent)
        var reader = NCNNWeightReader(data: weights, fileName: binURL.lastPathComponent)
        return try importGraph(param: param, weights: &reader, outputs: outputs)
    }

    /// Builds the graph from a parsed `.param` and a weight reader, then checks that the reader
    /// consumed every byte.
    /// - Throws: ``ModelFormatError`` naming the layer and line of the first problem.
    public static func importGraph(param: NCNNParamFile, weights: inout NCNNWeightReader, outputs: [String]? = nil) throws -> Graph {
        var graph = Graph()
        var blobs: [String: ValueID] = [:]
        var consumed = Set<String>()
        var produced: [String] = []

        for layer in param.layers {
            func unsupported(_ why: String) -> ModelFormatError {
                ModelFormatError(.unsupportedLayer, "layer \(layer.label): \(why)")
            }
            let ins = try layer.inputs.map { name -> ValueID in
                guard let v = blobs[name] else {
                    throw ModelFormatError(.malformed, "layer \(layer.label) reads blob \(name) that no earlier layer writes")
                }
                consumed.insert(name)
                return v
            }
            func arity(_ i: Int, _ o: Int) throws {
                guard layer.inputs.count == i, layer.outputs.count == o else {
                    throw ModelFormatError(.malformed, "layer \(layer.label): expects \(i) inputs and \(o) outputs")
                }
            }
            func emit(_ op: Op) {
                let out = graph.addValue(named: layer.outputs[0])
                graph.nodes.append(Node(name: layer.name, op: op, inputs: ins, output: out))
                blobs[layer.outputs[0]] = out
                produced.append(layer.outputs[0])
            }
            let p = layer.params
            switch layer.type {
            case "Input":
                try arity(0, 1)
                let v = graph.addValue(named: layer.outputs[0])
                graph.inputs.append(v)
                blobs[layer.outputs[0]] = v
            case "Split":
                guard ins.count == 1 else { throw unsupported("Split needs one input") }
                // Values are immutable, so every copy is the same value.
                for name in layer.outputs { blobs[name] = ins[0] }
            case "Noop":
                guard ins.count == layer.outputs.count else { throw unsupported("Noop with unequal inputs and outputs") }
                for (name, v) in zip(layer.outputs, ins) { blobs[name] = v }
            case "Convolution", "ConvolutionDepthWise":
                try arity(1, 1)
                emit(.convolution(try convolution(layer, depthWise: layer.type == "ConvolutionDepthWise", weights: &weights)))
            case "Deconvolution":
                try arity(1, 1)
                emit(.deconvolution(try deconvolution(layer, weights: &weights)))
            case "InnerProduct":
                try arity(1, 1)
                let out = p.int(0, 0), size = p.int(2, 0)
                guard out > 0, size > 0, size % out == 0 else {
                    throw ModelFormatError(.malformed, "layer \(layer.label): weight_data_size \(size) is not a positive multiple of num_output \(out)")
                }
                guard p.int(8, 0) == 0 else { throw unsupported("int8 inner product is not supported") }
                let w = try weights.readTagged(size, layer: layer.label)
                let b = p.int(1, 0) != 0 ? try weights.readRaw(out, layer: layer.label) : []
                emit(.innerProduct(FullyConnected(outFeatures: out, inFeatures: size / out, weights: w, bias: b,
                                                activation: try activation(layer))))
            case "ReLU":
                try arity(1, 1)
                let slope = p.float(0, 0)
                emit(.activation(slope == 0 ? .relu : .leakyReLU(slope: slope)))
            case "PReLU":
                try arity(1, 1)
                let n = p.int(0, 0)
                guard n > 0 else { throw unsupported("PReLU without slopes") }
                emit(.activation(.prelu(slopes: try weights.readRaw(n, layer: layer.label))))
            case "Sigmoid":
                try arity(1, 1)
                emit(.activation(.sigmoid))
            case "Clip":
                try arity(1, 1)
                emit(.activation(.clip(min: p.float(0, -.greatestFiniteMagnitude), max: p.float(1, .greatestFiniteMagnitude))))
            case "PixelShuffle":
                try arity(1, 1)
                let r = p.int(0, 1)
                guard r >= 1, p.int(1, 0) == 0 else { throw unsupported("only PyTorch-order pixel shuffle (mode 0)") }
                emit(.pixelShuffle(factor: r))
            case "Interp":
                try arity(1, 1)
                guard p.int(3, 0) == 0, p.int(4, 0) == 0, p.int(6, 0) == 0 else {
                    throw unsupported("only scale-factor Interp (no output size, no align_corner)")
                }
                let mode: ResizeMode
                switch p.int(0, 0) {
                case 1: mode = .nearest
                case 2: mode = .bilinear
                case 3: mode = .bicubic
                default: throw unsupported("resize_type \(p.int(0, 0))")
                }
                let scaleH = p.float(1, 1), scaleW = p.float(2, 1)
                guard scaleH > 0, scaleH <= maxResizeScale, scaleW > 0, scaleW <= maxResizeScale else {
                    throw ModelFormatError(.malformed, "layer \(layer.label): scale \(scaleH)x\(scaleW) is outside (0, \(maxResizeScale)]")
                }
                emit(.resize(Resize(mode: mode, scaleH: scaleH, scaleW: scaleW)))
            case "BinaryOp":
                let kinds: [BinaryKind] = [.add, .sub, .mul, .div, .max, .min]
                let extra: [Int: BinaryKind] = [7: .rsub, 8: .rdiv]
                let t = p.int(0, 0)
                guard let kind = kinds.indices.contains(t) ? kinds[t] : extra[t] else { throw unsupported("op_type \(t)") }
                if p.int(1, 0) != 0 {
                    try arity(1, 1)
                    emit(.binary(.withScalar(kind, p.float(2, 0))))
                } else {
                    try arity(2, 1)
                    emit(.binary(kind))
                }
            case "Eltwise":
                guard ins.count >= 2, layer.outputs.count == 1 else { throw unsupported("Eltwise needs 2+ inputs and one output") }
                switch p.int(0, 1) {
                case 0: emit(.eltwise(.product))
                case 1:
                    let k = p.floats(1)
                    guard k.isEmpty || k.count == ins.count else { throw unsupported("\(k.count) coefficients for \(ins.count) inputs") }
                    emit(.eltwise(.sum(k)))
                case 2: emit(.eltwise(.max))
                default: throw unsupported("op_type \(p.int(0, 1))")
                }
            case "Crop":
                guard ins.count == 1 || ins.count == 2, layer.outputs.count == 1 else { throw unsupported("Crop arity") }
                guard p.values[9] == nil, p.values[10] == nil, p.values[11] == nil, p.int(0, 0) != -233 else {
                    throw unsupported("only offset crops (no starts/ends/axes)")
                }
                let ow = p.int(3, 0), oh = p.int(4, 0), oc = p.int(5, 0)
                guard p.int(0, 0) >= 0, p.int(1, 0) >= 0, p.int(2, 0) >= 0 else {
                    throw ModelFormatError(.malformed, "layer \(layer.label): negative crop offset")
                }
                emit(.crop(Crop(offsetH: p.int(1, 0), offsetW: p.int(0, 0), offsetC: p.int(2, 0),
                                outH: oh > 0 ? oh : nil, outW: ow > 0 ? ow : nil, outC: oc > 0 ? oc : nil)))
            case "Concat":
                guard layer.outputs.count == 1 else { throw unsupported("Concat with several outputs") }
                guard p.int(0, 0) == 0 else { throw unsupported("only channel concatenation (axis 0)") }
                emit(.concat)
            case "Pooling":
                try arity(1, 1)
                guard p.int(4, 0) == 1 else { throw unsupported("only global pooling") }
                emit(.pooling(Pooling(kind: p.int(0, 0) == 0 ? .max : .average, global: true)))
            case "Scale":
                let size = p.int(0, 0)
                guard size == -233, ins.count == 2, p.int(1, 0) == 0 else {
                    throw unsupported("only Scale by a second blob without bias")
                }
                emit(.channelScale)
            default:
                throw unsupported("layer type \(layer.type) is not supported")
            }
        }
        try weights.finish()
        let names = outputs ?? produced.filter { !consumed.contains($0) }
        graph.outputs = try names.map { name in
            guard let v = blobs[name] else { throw ModelFormatError(.malformed, "output blob \(name) does not exist") }
            return v
        }
        return graph
    }

    /// The largest Interp scale factor accepted: far above any real model's (2 or 4), low enough
    /// that output sizes stay small integers.
    static let maxResizeScale: Float = 64

    /// Checks the window parameters shared by convolution and deconvolution.
    static func checkWindow(_ layer: NCNNLayer, strides: [Int], dilations: [Int]) throws {
        guard strides.allSatisfy({ $0 >= 1 }), dilations.allSatisfy({ $0 >= 1 }) else {
            throw ModelFormatError(.malformed, "layer \(layer.label): strides \(strides) and dilations \(dilations) must be at least 1")
        }
    }

    /// The fused activation of ncnn's `9=activation_type 10=activation_params`.
    static func activation(_ layer: NCNNLayer) throws -> Activation {
        let p = layer.params
        let args = p.floats(10)
        switch p.int(9, 0) {
        case 0: return .none
        case 1: return .relu
        case 2: return .leakyReLU(slope: args.first ?? 0)
        case 3: return .clip(min: args.count > 0 ? args[0] : 0, max: args.count > 1 ? args[1] : 0)
        case 4: return .sigmoid
        default:
            throw ModelFormatError(.unsupportedLayer, "layer \(layer.label): activation_type \(p.int(9, 0)) is not supported")
        }
    }

    static func convolution(_ layer: NCNNLayer, depthWise: Bool, weights: inout NCNNWeightReader) throws -> Convolution {
        let p = layer.params
        let out = p.int(0, 0), kw = p.int(1, 0), kh = p.int(11, kw)
        let dw = p.int(2, 1), dh = p.int(12, dw), sw = p.int(3, 1), sh = p.int(13, sw)
        let pl = p.int(4, 0), pt = p.int(14, pl), pr = p.int(15, pl), pb = p.int(16, pt)
        let size = p.int(6, 0)
        let groups = depthWise ? p.int(7, 1) : 1
        guard out > 0, kw > 0, kh > 0, groups > 0, out % groups == 0 else {
            throw ModelFormatError(.malformed, "layer \(layer.label): bad num_output/kernel/group")
        }
        guard pl >= 0, pt >= 0, pr >= 0, pb >= 0 else {
            throw ModelFormatError(.unsupportedLayer, "layer \(layer.label): SAME padding (-233/-234) is not supported")
        }
        guard p.int(8, 0) == 0 else { throw ModelFormatError(.unsupportedLayer, "layer \(layer.label): int8 convolution") }
        guard p.float(18, 0) == 0 else { throw ModelFormatError(.unsupportedLayer, "layer \(layer.label): non-zero pad value") }
        try checkWindow(layer, strides: [sw, sh], dilations: [dw, dh])
        let perOut = size / out
        guard size > 0, size % out == 0, perOut % (kw * kh) == 0 else {
            throw ModelFormatError(.malformed, "layer \(layer.label): weight_data_size \(size) does not fit \(out)x?x\(kh)x\(kw)")
        }
        let inChannels = perOut / (kw * kh) * groups
        let w = try weights.readTagged(size, layer: layer.label)
        let b = p.int(5, 0) != 0 ? try weights.readRaw(out, layer: layer.label) : []
        return Convolution(outChannels: out, inChannels: inChannels, kernel: (kh, kw), stride: (sh, sw),
                           dilation: (dh, dw), padding: Padding(top: pt, left: pl, bottom: pb, right: pr),
                           groups: groups, weights: w, bias: b, activation: try activation(layer))
    }

    static func deconvolution(_ layer: NCNNLayer, weights: inout NCNNWeightReader) throws -> Deconvolution {
        let p = layer.params
        let out = p.int(0, 0), kw = p.int(1, 0), kh = p.int(11, kw)
        let dw = p.int(2, 1), dh = p.int(12, dw), sw = p.int(3, 1), sh = p.int(13, sw)
        let pl = p.int(4, 0), pt = p.int(14, pl), pr = p.int(15, pl), pb = p.int(16, pt)
        let size = p.int(6, 0)
        // Each factor fits an Int32, so the product of two cannot overflow; the third is checked.
        let (window, overflow) = (out * kw).multipliedReportingOverflow(by: kh)
        guard out > 0, kw > 0, kh > 0, !overflow, size > 0, size % window == 0 else {
            throw ModelFormatError(.malformed, "layer \(layer.label): weight_data_size \(size) does not fit \(out)x?x\(kh)x\(kw)")
        }
        try checkWindow(layer, strides: [sw, sh], dilations: [dw, dh])
        guard p.int(18, 0) >= 0, p.int(19, 0) >= 0 else {
            throw ModelFormatError(.malformed, "layer \(layer.label): negative output padding")
        }
        guard pl >= 0, pt >= 0, pr >= 0, pb >= 0, p.int(20, 0) == 0, p.int(21, 0) == 0 else {
            throw ModelFormatError(.unsupportedLayer, "layer \(layer.label): SAME padding or explicit output size")
        }
        let w = try weights.readTagged(size, layer: layer.label)
        let b = p.int(5, 0) != 0 ? try weights.readRaw(out, layer: layer.label) : []
        return Deconvolution(outChannels: out, inChannels: size / window, kernel: (kh, kw), stride: (sh, sw),
                             dilation: (dh, dw), padding: Padding(top: pt, left: pl, bottom: pb, right: pr),
                             outputPadding: (p.int(19, 0), p.int(18, 0)), weights: w, bias: b,
                             activation: try activation(layer))
    }
}
