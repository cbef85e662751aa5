import Graph
import Kernels

extension ONNXModel {
    /// Lowers the model, specialized to `inputShapes`, to the engine's NCHW graph IR so that
    /// ``GraphExecutor`` (fusions, memory plan) can run it.
    ///
    /// Convolutional models lower fully: Conv, ConvTranspose (one group), Relu, Sigmoid, SiLU,
    /// Clip, Add/Sub/Mul/Div of same-shape, per-channel or constant-scalar operands, channel
    /// Concat, Max/AveragePool, Resize (nearest-asymmetric, linear and cubic half-pixel) and
    /// shape-preserving Identity/Reshape. Everything else (attention, normalizations, general
    /// tensor shapes) stays on ``ONNXPlan``.
    /// - Throws: ``ModelFormatError`` `.unsupportedLayer` naming the first node and op with no
    ///   graph equivalent.
    public func engineGraph(inputShapes: [String: [Int]]) throws -> Graph {
        // Unfused: the engine graph has its own fusions and no fused ONNX steps.
        try ONNXPlan(model: self, inputShapes: inputShapes, pool: .shared, fusing: false).lowered()
    }
}

extension ONNXPlan {
    /// See ``ONNXModel/engineGraph(inputShapes:)``.
    func lowered() throws -> Graph {
        var graph = Graph()
        var ids: [Int: ValueID] = [:]
        let constants = Dictionary(uniqueKeysWithValues: constantSlots.map { ($0.0, $0.1) })
        for (name, slot, shape) in inputSlots {
            guard shape.count == 4 else {
                throw ModelFormatError(.unsupportedLayer, "onnx: input '\(name)' is \(shape); the engine graph takes NCHW")
            }
            let v = graph.addValue(named: name)
            ids[slot] = v
            graph.inputs.append(v)
        }
        for step in steps {
            func fail(_ why: String) -> ModelFormatError {
                ModelFormatError(.unsupportedLayer, "onnx: \(step.opType) '\(step.name)': \(why) in the engine graph")
            }
            func value(_ i: Int) throws -> ValueID {
                guard i < step.inputs.count, let s = step.inputs[i], let v = ids[s] else {
                    throw fail("input \(i) is not a tensor of the graph")
                }
                return v
            }
            func constant(_ i: Int) -> ONNXTensor? {
                guard i < step.inputs.count, let s = step.inputs[i] else { return nil }
                return constants[s]
            }
            let outSlot = step.outputs[0]
            let outShape = expectedShapes[outSlot] ?? []
            let inShape = step.inputs.first.flatMap { $0 }.flatMap { expectedShapes[$0] } ?? []
            func emit(_ op: Op, _ inputs: [ValueID], name: String? = nil) -> ValueID {
                let v = graph.addValue(named: name ?? step.name)
                graph.nodes.append(Node(name: name ?? step.name, op: op, inputs: inputs, output: v))
                return v
            }
            guard step.outputs.count == 1, outShape.count == 4 else { throw fail("output \(outShape) is not NCHW") }
            let result: ValueID
            switch step.op {
            case .conv(let a):
                guard let w = constant(1), inShape.count == 4 else { throw fail("weights must be constant, input NCHW") }
                let g = try ONNXConv.geometry(a, input: inShape, kernel: (w.shape[2], w.shape[3]))
                result = emit(.convolution(Convolution(
                    outChannels: w.shape[0], inChannels: inShape[1], kernel: (w.shape[2], w.shape[3]),
                    stride: (g.stride.0, g.stride.1), dilation: (g.dilation.0, g.dilation.1),
                    padding: Padding(top: g.pads.0, left: g.pads.1, bottom: g.pads.2, right: g.pads.3),
                    groups: a.group, weights: w.floats, bias: constant(2)?.floats ?? [])), [try value(0)])
            case .convTranspose(let a):
                guard let w = constant(1), a.group == 1, inShape.count == 4 else { throw fail("needs constant weights and one group") }
                let (ic, oc, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
                let g = try ONNXConv.geometry(a, input: inShape, kernel: (kh, kw))
                let op = try ONNXConv.pair(a.outputPadding, 0, spatial: 2)
                // ONNX stores (in, out, kh, kw); the graph's deconvolution takes (out, in, kh, kw).
                let weights = Layout.permute(w.floats, shape: w.shape, perm: [1, 0, 2, 3])
                result = emit(.deconvolution(Deconvolution(
                    outChannels: oc, inChannels: ic, kernel: (kh, kw), stride: (g.stride.0, g.stride.1),
                    dilation: (g.dilation.0, g.dilation.1),
                    padding: Padding(top: g.pads.0, left: g.pads.1, bottom: g.pads.2, right: g.pads.3),
                    outputPadding: (op.0, op.1), weights: weights, bias: constant(2)?.floats ?? [])), [try value(0)])
            case .unary(.relu): result = emit(.activation(.relu), [try value(0)])
            case .unary(.sigmoid): result = emit(.activation(.sigmoid), [try value(0)])
            case .unary(.silu):
                let x = try value(0)
                let s = emit(.activation(.sigmoid), [x], name: step.name + "/sigmoid")
                result = emit(.eltwise(.product), [x, s])
            case .unary(.identity), .reshape, .squeeze, .unsqueeze, .flatten:
                guard outShape == inShape else { throw fail("reshape \(inShape) → \(outShape)") }
                ids[outSlot] = try value(0)
                continue
            case .clip:
                let lo = constant(1)?.floats.first ?? -.infinity, hi = constant(2)?.floats.first ?? .infinity
                result = emit(.activation(.clip(min: lo, max: hi)), [try value(0)])
            case .binary(let kind) where [.add, .sub, .mul, .div].contains(kind):
                let map: [ONNXOp.BinaryKind: BinaryKind] = [.add: .add, .sub: .sub, .mul: .mul, .div: .div]
                let reversed: [ONNXOp.BinaryKind: BinaryKind] = [.add: .add, .sub: .rsub, .mul: .mul, .div: .rdiv]
                if let c = constant(1), c.count == 1 {
                    result = emit(.binary(.withScalar(map[kind]!, c.floats[0])), [try value(0)])
                } else if let c = constant(0), c.count == 1 {
                    result = emit(.binary(.withScalar(reversed[kind]!, c.floats[0])), [try value(1)])
                } else {
                    let a = try value(0), b = try value(1)
                    let bShape = step.inputs[1].flatMap { expectedShapes[$0] } ?? []
                    guard inShape == outShape, bShape.count == 4 else { throw fail("operands \(inShape) and \(bShape)") }
                    result = emit(.binary(map[kind]!), [a, b])
                }
            case .concat(let axis):
                guard Layout.axis(axis, rank: 4) == 1 else { throw fail("concat on axis \(axis)") }
                result = emit(.concat, try (0..<step.inputs.count).map(value))
            case .pool(let p):
                if p.global {
                    result = emit(.pooling(Pooling(kind: p.isMax ? .max : .average, global: true)), [try value(0)])
                } else {
                    let conv = ConvAttributes(kernel: p.kernel, strides: p.strides, dilations: p.dilations, pads: p.pads,
                                              outputPadding: nil, group: 1, autoPad: p.autoPad)
                    let k = try ONNXConv.pair(p.kernel, 1, spatial: 2)
                    let g = try ONNXConv.geometry(conv, input: inShape, kernel: k)
                    guard !p.ceilMode, g.dilation == (1, 1), p.isMax || g.pads == (0, 0, 0, 0) else {
                        throw fail("ceil_mode, dilation or padded averaging")
                    }
                    result = emit(.pooling(Pooling(kind: p.isMax ? .max : .average, global: false, kernel: k,
                                                   stride: g.stride, padding: Padding(top: g.pads.0, left: g.pads.1,
                                                                                      bottom: g.pads.2, right: g.pads.3))),
                                  [try value(0)])
                }
            case .resize(let r):
                let mode: ResizeMode
                switch (r.mode, r.coordinateMode) {
                case ("nearest", "asymmetric") where r.nearestMode == "floor": mode = .nearest
                case ("linear", "half_pixel"), ("linear", "pytorch_half_pixel"): mode = .bilinear
                case ("cubic", "half_pixel") where r.cubicA == -0.75 && !r.excludeOutside: mode = .bicubic
                default: throw fail("resize mode \(r.mode) with \(r.coordinateMode)")
                }
                result = emit(.resize(Resize(mode: mode, scaleH: Float(outShape[2]) / Float(inShape[2]),
                                             scaleW: Float(outShape[3]) / Float(inShape[3]))), [try value(0)])
            default:
                throw fail("no equivalent op")
            }
            ids[outSlot] = result
        }
        for (name, slot) in outputSlots {
            guard let v = ids[slot] else {
                throw ModelFormatError(.unsupportedLayer, "onnx: output '\(name)' is a constant or not NCHW")
            }
            graph.outputs.append(v)
        }
        return graph
    }
}
