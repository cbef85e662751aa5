import ModelFormats

/// Checks a manifest against its graph before any request: every graph input is fed by exactly
/// one entry, every named tensor exists, and declared shapes and element types agree with what
/// the graph records. Returns the element type each input is fed as.
enum ManifestBinding {
    /// - Returns: the element type of each mapped graph input, by tensor name.
    /// - Throws: ``ManifestError`` naming the manifest field (or `inputs` for an unmapped input).
    static func check(_ manifest: ONNXManifest, model: ONNXModel) throws -> [String: ONNX.DataType] {
        let graphInputs = Dictionary(model.inputs.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let graphOutputs = Set(model.outputs.map(\.name))
        var types: [String: ONNX.DataType] = [:]
        for input in manifest.inputs {
            guard let g = graphInputs[input.tensor] else {
                let names = model.inputs.map { "'\($0.name)'" }.joined(separator: ", ")
                throw ManifestError(field: "\(input.path).tensor", "the graph has no input '\(input.tensor)'; its inputs are \(names)")
            }
            let type = ONNX.DataType(rawValue: g.elementType) ?? .undefined
            let allowed: [ONNX.DataType] = input.kind == "integer" || input.kind == "constant" ? [.float, .int64, .int32] : [.float]
            guard allowed.contains(type) else {
                throw ManifestError(field: "\(input.path).kind", "\(input.kind) cannot feed '\(g.name)' of element type \(type)")
            }
            types[input.tensor] = type
            if input.kind == "constant", type == .int64 || type == .int32,
               let bad = input.values.firstIndex(where: { integerElement($0, type: type) == nil }) {
                throw ManifestError(field: "\(input.path).values[\(bad)]",
                                    "\(input.values[bad]) is not an integer in \(integerBounds(type)) for '\(g.name)' of element type \(type)")
            }
            if input.kind == "image" {
                try checkImage(input, g)
            } else if let dims = g.shape {
                guard dims.count == input.shape.count, zip(dims, input.shape).allSatisfy({ fits($0, $1) }) else {
                    throw ManifestError(field: "\(input.path).shape", "\(input.shape) does not fit graph input '\(g.name)' \(describe(g))")
                }
            }
        }
        for g in model.inputs where !manifest.inputs.contains(where: { $0.tensor == g.name }) {
            throw ManifestError(field: "inputs", "graph input '\(g.name)' \(describe(g)) is not mapped by any entry")
        }
        for output in manifest.outputs {
            guard graphOutputs.contains(output.tensor) else {
                let names = model.outputs.map { "'\($0.name)'" }.joined(separator: ", ")
                throw ManifestError(field: "\(output.path).tensor", "the graph has no output '\(output.tensor)'; its outputs are \(names)")
            }
            if output.kind == "image", let g = model.outputs.first(where: { $0.name == output.tensor }), let dims = g.shape {
                guard dims.count == 4 || dims.count == 3 else {
                    throw ManifestError(field: "\(output.path).kind", "graph output '\(g.name)' \(describe(g)) is not an image (rank 3 or 4)")
                }
                let c = output.pixels!.layout == "NHWC" ? dims[dims.count - 1] : dims[dims.count - 3]
                guard fits(c, output.pixels!.channelCount) else {
                    throw ManifestError(field: "\(output.path).channels", "graph output '\(g.name)' \(describe(g)) does not have \(output.pixels!.channelCount) channels")
                }
            }
        }
        return types
    }

    private static func checkImage(_ input: ONNXManifest.Input, _ g: ONNX.ValueInfoProto) throws {
        guard let dims = g.shape else { return }
        let p = input.pixels!
        guard dims.count == 4 else {
            throw ManifestError(field: "\(input.path).kind", "graph input '\(g.name)' \(describe(g)) is not an image batch (rank 4)")
        }
        let (c, h, w) = p.layout == "NHWC" ? (dims[3], dims[1], dims[2]) : (dims[1], dims[2], dims[3])
        guard fits(dims[0], 1) else {
            throw ManifestError(field: "\(input.path).tensor", "graph input '\(g.name)' \(describe(g)) needs a batch other than 1")
        }
        guard fits(c, p.channelCount) else {
            throw ManifestError(field: "\(input.path).channels", "graph input '\(g.name)' \(describe(g)) does not take \(p.channelCount) channels (\(p.channels))")
        }
        if let r = input.resize, r.mode == "stretch" {
            for (name, want, dim) in [("height", r.height, h), ("width", r.width, w)] {
                if let want, !fits(dim, want) {
                    throw ManifestError(field: "\(input.path).resize.\(name)", "\(want) does not fit graph input '\(g.name)' \(describe(g))")
                }
                if want == nil, case .value = dim {} else if want == nil {
                    throw ManifestError(field: "\(input.path).resize.\(name)", "is required: graph input '\(g.name)' \(describe(g)) does not fix it")
                }
            }
        }
    }

    /// `value` as an element of an integer tensor of `type`, or `nil` when it is not an integer
    /// that type holds exactly (never a trapping conversion: request values reach this).
    static func integerElement(_ value: Double, type: ONNX.DataType) -> Int64? {
        type == .int32 ? Int32(exactly: value).map(Int64.init) : Int64(exactly: value)
    }

    /// The integers an integer element type holds, for messages.
    static func integerBounds(_ type: ONNX.DataType) -> String {
        type == .int32 ? "\(Int32.min)...\(Int32.max)" : "\(Int64.min)...\(Int64.max)"
    }

    /// Whether a recorded extent admits `extent` (symbolic and unknown extents admit any).
    static func fits(_ dim: ONNX.Dimension, _ extent: Int) -> Bool {
        if case .value(let v) = dim { return v == extent }
        return true
    }

    /// A fixed extent, when the graph records one.
    static func fixed(_ dim: ONNX.Dimension) -> Int? {
        if case .value(let v) = dim { return Int(v) }
        return nil
    }

    static func describe(_ g: ONNX.ValueInfoProto) -> String {
        let type = ONNX.DataType(rawValue: g.elementType) ?? .undefined
        return "(\(type)\(g.shape.map { "[" + $0.map(\.description).joined(separator: ", ") + "]" } ?? "[?]"))"
    }
}
