// Low-rank adapters as diffusers loads them (huggingface/diffusers `loaders/lora_pipeline.py`,
// `lora_conversion_utils.py`): PEFT/diffusers and kohya-ss files.
import Foundation
import Graph
import ModelFormats
import ModelKit
import Tensor

/// A LoRA file's layers: for each adapted module, `delta = alpha / rank · up @ down`, added to
/// the module's weight (times the request's scale).
public struct LoRAAdapter: Sendable {
    /// One adapted module.
    public struct Layer: Sendable {
        /// `[rank, in]` or `[rank, in, kh, kw]`.
        public var down: Tensor
        /// `[out, rank]` or `[out, rank, 1, 1]`.
        public var up: Tensor
        /// The file's alpha; nil: the rank (a scale of 1).
        public var alpha: Float?

        /// `alpha / rank · up @ down`, shaped like the module's weight (`[out, in]` or
        /// `[out, in, kh, kw]`).
        public func delta(scale: Float) throws -> Tensor {
            let rank = down.shape[0]
            guard up.shape.rank >= 2, up.shape[1] == rank, up.shape.dims.dropFirst(2).allSatisfy({ $0 == 1 }) else {
                throw ModelError(.invalidInput, "LoRA up \(up.shape) does not fit down \(down.shape)", status: 422)
            }
            let out = up.shape[0], inner = down.count / rank
            let k = scale * (alpha ?? Float(rank)) / Float(rank)
            let result = Tensor(zeros: Shape([out] + down.shape.dims.dropFirst()))
            let u = up.floatPointer, d = down.floatPointer, r = result.floatPointer
            for o in 0..<out {
                for j in 0..<rank {
                    let a = k * u[o * rank + j]
                    if a == 0 { continue }
                    for i in 0..<inner { r[o * inner + i] += a * d[j * inner + i] }
                }
            }
            return result
        }
    }

    /// Layers by component (`unet`, `text_encoder`, `text_encoder_2`) and diffusers module name
    /// (`down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q`, `text_model.encoder.layers.0.self_attn.q_proj`).
    public var components: [String: [String: Layer]]

    /// The largest LoRA file accepted.
    public static let maximumFileBytes = 2 << 30

    /// Reads a LoRA file in PEFT/diffusers or kohya-ss layout.
    /// - Parameters:
    ///   - file: the safetensors file.
    ///   - moduleNames: each component's adaptable module names, for resolving kohya's
    ///     underscore-joined names (``StableDiffusionPipeline/loraModules``).
    /// - Throws: `ModelError(.invalidInput, status: 422)` naming a key this reader cannot place.
    public init(file: SafetensorsFile, moduleNames: [String: Set<String>]) throws {
        func bad(_ message: String) -> ModelError { ModelError(.invalidInput, "LoRA \(file.name): \(message)", status: 422) }
        // PEFT metadata: "<component>.r" and "<component>.lora_alpha".
        var peftAlpha: [String: Float] = [:]
        if let json = file.metadata["lora_adapter_metadata"],
           let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] {
            for component in ["unet", "text_encoder", "text_encoder_2"] {
                if let patterns = object["\(component).alpha_pattern"] as? [String: Any], !patterns.isEmpty {
                    throw bad("per-module alpha patterns are not supported")
                }
                if let patterns = object["\(component).rank_pattern"] as? [String: Any], !patterns.isEmpty {
                    throw bad("per-module rank patterns are not supported")
                }
                if let alpha = (object["\(component).lora_alpha"] as? NSNumber)?.floatValue { peftAlpha[component] = alpha }
            }
        }
        // kohya's underscore-joined names back to module names.
        var kohya: [String: (String, String)] = [:]
        let kohyaPrefixes = ["unet": ["lora_unet_"], "text_encoder": ["lora_te_", "lora_te1_"], "text_encoder_2": ["lora_te2_"]]
        for (component, names) in moduleNames {
            for name in names {
                for prefix in kohyaPrefixes[component] ?? [] {
                    kohya[prefix + name.replacingOccurrences(of: ".", with: "_")] = (component, name)
                    // Text encoder modules appear with and without transformers' `text_model.` prefix.
                    if name.hasPrefix("text_model.") {
                        kohya[prefix + name.replacingOccurrences(of: ".", with: "_")] = (component, name)
                    } else {
                        kohya[prefix + "text_model_" + name.replacingOccurrences(of: ".", with: "_")] = (component, name)
                    }
                }
            }
        }
        var parts: [String: [String: (down: Tensor?, up: Tensor?, alpha: Float?)]] = [:]
        func add(_ component: String, _ module: String, down: Tensor? = nil, up: Tensor? = nil, alpha: Float? = nil) {
            var entry = parts[component, default: [:]][module] ?? (nil, nil, nil)
            if let down { entry.down = down }
            if let up { entry.up = up }
            if let alpha { entry.alpha = alpha }
            parts[component, default: [:]][module] = entry
        }
        for key in file.names {
            if key.hasPrefix("lora_") {
                guard let dot = key.firstIndex(of: ".") else { throw bad("cannot place \(key)") }
                let stem = String(key[..<dot]), suffix = String(key[key.index(after: dot)...])
                guard let (component, module) = kohya[stem] else { throw bad("\(stem) names no module of this model") }
                switch suffix {
                case "lora_down.weight": add(component, module, down: try file.tensor(named: key))
                case "lora_up.weight": add(component, module, up: try file.tensor(named: key))
                case "alpha": add(component, module, alpha: try file.tensor(named: key)[flat: 0])
                default: throw bad("cannot place \(key)")
                }
                continue
            }
            let pieces = key.split(separator: ".", maxSplits: 1).map(String.init)
            guard pieces.count == 2, ["unet", "text_encoder", "text_encoder_2"].contains(pieces[0]) else {
                throw bad("cannot place \(key)")
            }
            let component = pieces[0]
            var rest = pieces[1]
            var isDown: Bool
            if rest.hasSuffix(".lora_A.weight") || rest.hasSuffix(".lora_B.weight") {
                isDown = rest.hasSuffix(".lora_A.weight")
                rest.removeLast(".lora_A.weight".count)
            } else if rest.hasSuffix(".lora_linear_layer.down.weight") || rest.hasSuffix(".lora_linear_layer.up.weight") {
                isDown = rest.hasSuffix(".down.weight")
                rest.removeLast(isDown ? ".lora_linear_layer.down.weight".count : ".lora_linear_layer.up.weight".count)
            } else if let range = rest.range(of: #"\.processor\.(to_q|to_k|to_v|to_out)_lora\.(down|up)\.weight$"#, options: .regularExpression) {
                let tail = rest[range]
                isDown = tail.hasSuffix(".down.weight")
                let projection = tail.split(separator: ".")[2].replacingOccurrences(of: "_lora", with: "")
                rest = String(rest[..<range.lowerBound]) + "." + (projection == "to_out" ? "to_out.0" : projection)
            } else if rest.hasSuffix(".alpha") {
                rest.removeLast(".alpha".count)
                add(component, rest, alpha: try file.tensor(named: key)[flat: 0])
                continue
            } else {
                throw bad("cannot place \(key)")
            }
            let tensor = try file.tensor(named: key)
            if isDown { add(component, rest, down: tensor) } else { add(component, rest, up: tensor) }
        }
        var components: [String: [String: Layer]] = [:]
        for (component, modules) in parts {
            for (module, entry) in modules {
                guard let down = entry.down, let up = entry.up else { throw bad("\(component).\(module) lacks its down or up matrix") }
                guard down.shape.rank == 2 || down.shape.rank == 4, down.shape[0] >= 1, down.shape[0] <= 1024 else {
                    throw bad("\(component).\(module) has a down matrix of shape \(down.shape)")
                }
                components[component, default: [:]][module] = Layer(down: down, up: up, alpha: entry.alpha ?? peftAlpha[component])
            }
        }
        guard !components.isEmpty else { throw bad("holds no LoRA layers") }
        self.components = components
    }
}

extension GraphExecutor {
    /// The modules an adapter can change: linear layers (a `<module>.weight` matrix constant,
    /// stored transposed as `[in, out]`) and convolutions (by node name).
    var adaptableModules: Set<String> {
        var names = Set<String>()
        for (v, t) in graph.constants where t.shape.rank == 2 {
            let name = graph.valueNames[v.index]
            if name.hasSuffix(".weight") { names.insert(String(name.dropLast(".weight".count))) }
        }
        for node in graph.nodes { if case .convolution = node.op { names.insert(node.name) } }
        return names
    }

    /// A variant with `deltas` (by module, in PyTorch's `[out, in]` or `[out, in, kh, kw]`
    /// layout) added to the modules' weights; unchanged layers are shared with this executor.
    /// - Throws: `ModelError(.invalidInput, status: 422)` naming a module the graph lacks or a
    ///   delta of another size.
    func adapted(_ deltas: [String: Tensor]) throws -> GraphExecutor {
        var constants: [String: Tensor] = [:]
        var convolutions: [String: [Float]] = [:]
        for (module, delta) in deltas {
            if let v = graph.value(named: "\(module).weight"), let base = graph.constants[v], base.shape.rank == 2 {
                let rows = base.shape[0], cols = base.shape[1]
                guard delta.count == rows * cols else {
                    throw ModelError(.invalidInput, "LoRA for \(module) is \(delta.shape); the layer is \(cols)x\(rows)", status: 422)
                }
                let merged = base.copy()
                let m = merged.floatPointer, d = delta.floatPointer
                // base is [in, out]; delta is [out, in].
                for i in 0..<rows { for o in 0..<cols { m[i * cols + o] += d[o * rows + i] } }
                constants["\(module).weight"] = merged
            } else if let node = graph.nodes.first(where: { $0.name == module }), case .convolution(let conv) = node.op {
                guard delta.count == conv.weightCount else {
                    throw ModelError(.invalidInput, "LoRA for \(module) has \(delta.count) values; the convolution has \(conv.weightCount)",
                                     status: 422)
                }
                var weights = try convolutionWeights(named: module)
                let d = delta.floatPointer
                for i in weights.indices { weights[i] += d[i] }
                convolutions[module] = weights
            } else {
                throw ModelError(.invalidInput, "LoRA adapts \(module), which this model does not have", status: 422)
            }
        }
        return try replacingConstants(constants, convolutionWeights: convolutions)
    }
}

extension LoRAAdapter {
    /// The summed deltas of several adapters with their scales for one component, by module
    /// (text encoder modules without transformers' `text_model.` prefix).
    static func deltas(_ adapters: [(adapter: LoRAAdapter, scale: Float)], component: String) throws -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (adapter, scale) in adapters {
            for (module, layer) in adapter.components[component] ?? [:] {
                let name = module.hasPrefix("text_model.") ? String(module.dropFirst("text_model.".count)) : module
                let delta = try layer.delta(scale: scale)
                if let sum = out[name] {
                    guard sum.count == delta.count else { throw ModelError(.invalidInput, "LoRAs disagree on \(name)'s shape", status: 422) }
                    for i in 0..<sum.count { sum.floatPointer[i] += delta.floatPointer[i] }
                } else {
                    out[name] = delta
                }
            }
        }
        return out
    }
}
