// Original (CompVis / Stability "ldm") tensor names to diffusers names, as diffusers'
// convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint, convert_ldm_clip_checkpoint and
// convert_open_clip_checkpoint (loaders/single_file_utils.py) rename them.
import Foundation

extension DiffusionCheckpoint {
    /// Diffusers name to the single-file tensor it comes from and how.
    public typealias KeyMap = [String: (name: String, transform: DiffusionWeights.Transform)]

    /// The UNet's map: every tensor under `prefix` (`model.diffusion_model.`) that has a
    /// diffusers name. `layersPerBlock` places the `input_blocks`/`output_blocks` indices in
    /// their blocks; `labelEmbedding` is where `label_emb` goes (`add_embedding` for SDXL's
    /// `text_time`, `class_embedding` for a projection class embedding, nil when none).
    public static func unetKeyMap(names: [String], prefix: String = "model.diffusion_model.", layersPerBlock: Int,
                                  labelEmbedding: String?) -> KeyMap {
        var map: KeyMap = [:]
        for name in names where name.hasPrefix(prefix) {
            if let target = unetName(String(name.dropFirst(prefix.count)), layersPerBlock: layersPerBlock, labelEmbedding: labelEmbedding) {
                map[target] = (name, .identity)
            }
        }
        return map
    }

    /// The autoencoder's map: every tensor under `prefix` (`first_stage_model.`). The decoder's
    /// `up` blocks run in the opposite order to diffusers' `up_blocks`, hence `blocks`; the
    /// middle attention's projections, stored as 1×1 convolutions, become linear weights.
    public static func vaeKeyMap(names: [String], prefix: String = "first_stage_model.", blocks: Int,
                                 shape: (String) -> [Int]?) -> KeyMap {
        var map: KeyMap = [:]
        for name in names where name.hasPrefix(prefix) {
            guard let target = vaeName(String(name.dropFirst(prefix.count)), blocks: blocks) else { continue }
            if target.contains(".attentions.0.to_"), target.hasSuffix(".weight"), let dims = shape(name), dims.count > 2 {
                map[target] = (name, .reshape(Array(dims.prefix(2))))
            } else {
                map[target] = (name, .identity)
            }
        }
        return map
    }

    /// A `transformers` CLIP text encoder stored whole under `prefix`
    /// (`cond_stage_model.transformer.`, `conditioner.embedders.0.transformer.`). With
    /// `textModelPrefix` false (a `transformers` 5 `CLIPTextModel`) the names lose `text_model.`.
    public static func clipKeyMap(names: [String], prefix: String, textModelPrefix: Bool) -> KeyMap {
        var map: KeyMap = [:]
        for name in names where name.hasPrefix(prefix) && !name.hasSuffix("position_ids") {
            var target = String(name.dropFirst(prefix.count))
            if !textModelPrefix, target.hasPrefix("text_model.") { target.removeFirst("text_model.".count) }
            if textModelPrefix, !target.hasPrefix("text_model."), !target.hasPrefix("text_projection") { target = "text_model." + target }
            map[target] = (name, .identity)
        }
        return map
    }

    /// An OpenCLIP text transformer under `prefix` (`cond_stage_model.model.`,
    /// `conditioner.embedders.1.model.`) as a `transformers` CLIP text encoder: the fused
    /// `in_proj_weight`/`in_proj_bias` split into query, key and value, `text_projection`
    /// transposed into a linear weight. Names in `ignoring` are left out.
    public static func openCLIPKeyMap(names: [String], prefix: String, textModelPrefix: Bool, ignoring: Set<String> = []) -> KeyMap {
        let model = textModelPrefix ? "text_model." : ""
        let layerParts = ["ln_1": "layer_norm1", "ln_2": "layer_norm2", "mlp.c_fc": "mlp.fc1", "mlp.c_proj": "mlp.fc2",
                          "attn.out_proj": "self_attn.out_proj"]
        var map: KeyMap = [:]
        for name in names where name.hasPrefix(prefix) && !ignoring.contains(name) {
            let key = String(name.dropFirst(prefix.count))
            switch key {
            case "positional_embedding": map[model + "embeddings.position_embedding.weight"] = (name, .identity)
            case "token_embedding.weight": map[model + "embeddings.token_embedding.weight"] = (name, .identity)
            case "ln_final.weight", "ln_final.bias": map[model + "final_layer_norm." + key.dropFirst("ln_final.".count)] = (name, .identity)
            case "text_projection": map["text_projection.weight"] = (name, .transpose)
            default:
                let parts = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
                guard parts.count >= 4, parts[0] == "transformer", parts[1] == "resblocks", let layer = Int(parts[2]), layer >= 0 else { continue }
                let rest = parts.dropFirst(3).joined(separator: ".")
                let base = "\(model)encoder.layers.\(layer)."
                if rest == "attn.in_proj_weight" || rest == "attn.in_proj_bias" {
                    let kind = rest.hasSuffix("weight") ? "weight" : "bias"
                    for (part, projection) in ["q_proj", "k_proj", "v_proj"].enumerated() {
                        map[base + "self_attn.\(projection).\(kind)"] = (name, .chunk(part: part, of: 3))
                    }
                } else if let dot = rest.lastIndex(of: "."), let module = layerParts[String(rest[..<dot])] {
                    map[base + module + rest[dot...]] = (name, .identity)
                }
            }
        }
        return map
    }

    // MARK: - Name rewriting

    /// The resnet parameters' renaming, shared by the down, middle and up blocks.
    private static let unetResnetParts: [(String, String)] = [
        ("in_layers.0.", "norm1."), ("in_layers.2.", "conv1."), ("out_layers.0.", "norm2."), ("out_layers.3.", "conv2."),
        ("emb_layers.1.", "time_emb_proj."), ("skip_connection.", "conv_shortcut."),
    ]

    private static func unetResnet(_ rest: String) -> String? {
        for (old, new) in unetResnetParts where rest.hasPrefix(old) { return new + rest.dropFirst(old.count) }
        return nil
    }

    /// One UNet tensor's diffusers name (`key` without the prefix), nil when it has none.
    static func unetName(_ key: String, layersPerBlock: Int, labelEmbedding: String?) -> String? {
        let fixed: [(String, String)] = [
            ("time_embed.0.", "time_embedding.linear_1."), ("time_embed.2.", "time_embedding.linear_2."),
            ("input_blocks.0.0.", "conv_in."), ("out.0.", "conv_norm_out."), ("out.2.", "conv_out."),
        ]
        for (old, new) in fixed where key.hasPrefix(old) { return new + key.dropFirst(old.count) }
        if key.hasPrefix("label_emb.0.") {
            guard let labelEmbedding else { return nil }
            if key.hasPrefix("label_emb.0.0.") { return "\(labelEmbedding).linear_1." + key.dropFirst("label_emb.0.0.".count) }
            if key.hasPrefix("label_emb.0.2.") { return "\(labelEmbedding).linear_2." + key.dropFirst("label_emb.0.2.".count) }
            return nil
        }
        if key.hasPrefix("middle_block.") {
            // middle_block.J.rest: a resnet, the attention, a resnet.
            let parts = key.split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 3, let j = Int(parts[1]) else { return nil }
            if j == 0 || j == 2 { return unetResnet(parts[2]).map { "mid_block.resnets.\(j / 2).\($0)" } }
            return j == 1 ? "mid_block.attentions.0.\(parts[2])" : nil
        }
        // input_blocks.I.J.rest, output_blocks.I.J.rest: I counts resnets (and samplers) across blocks.
        let parts = key.split(separator: ".", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 4, let i = Int(parts[1]), let j = Int(parts[2]), i >= 0, j >= 0, layersPerBlock >= 0,
              layersPerBlock < Int.max else { return nil }
        let rest = parts[3]
        let per = layersPerBlock + 1
        switch parts[0] {
        case "input_blocks" where i >= 1:
            let (block, layer) = ((i - 1) / per, (i - 1) % per)
            if j == 0, rest.hasPrefix("op.") { return "down_blocks.\(block).downsamplers.0.conv." + rest.dropFirst(3) }
            if j == 0 { return unetResnet(rest).map { "down_blocks.\(block).resnets.\(layer).\($0)" } }
            if j == 1 { return "down_blocks.\(block).attentions.\(layer).\(rest)" }
        case "output_blocks":
            let (block, layer) = (i / per, i % per)
            if j == 0 { return unetResnet(rest).map { "up_blocks.\(block).resnets.\(layer).\($0)" } }
            if (j == 1 || j == 2), rest.hasPrefix("conv.") { return "up_blocks.\(block).upsamplers.0.conv." + rest.dropFirst(5) }
            if j == 1 { return "up_blocks.\(block).attentions.\(layer).\(rest)" }
        default:
            break
        }
        return nil
    }

    private static func vaeResnet(_ rest: String) -> String? {
        for part in ["norm1.", "conv1.", "norm2.", "conv2."] where rest.hasPrefix(part) { return rest }
        return rest.hasPrefix("nin_shortcut.") ? "conv_shortcut." + rest.dropFirst("nin_shortcut.".count) : nil
    }

    /// One autoencoder tensor's diffusers name (`key` without the prefix), nil when it has none.
    static func vaeName(_ key: String, blocks: Int) -> String? {
        let parts = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 2 else { return nil }
        if parts.count == 2, ["quant_conv", "post_quant_conv"].contains(parts[0]) { return key }
        let side = parts[0]
        guard side == "encoder" || side == "decoder", parts.count >= 3 else { return nil }
        let tail = parts.dropFirst(2).joined(separator: ".")
        switch parts[1] {
        case "conv_in", "conv_out": return parts.count == 3 ? key : nil
        case "norm_out": return parts.count == 3 ? "\(side).conv_norm_out.\(tail)" : nil
        case "mid":
            guard parts.count >= 4 else { return nil }
            let rest = parts.dropFirst(3).joined(separator: ".")
            if parts[2] == "block_1" || parts[2] == "block_2" {
                return vaeResnet(rest).map { "\(side).mid_block.resnets.\(parts[2] == "block_1" ? 0 : 1).\($0)" }
            }
            let attention = ["norm": "group_norm", "q": "to_q", "k": "to_k", "v": "to_v", "proj_out": "to_out.0"]
            guard parts[2] == "attn_1", parts.count == 5, let module = attention[parts[3]] else { return nil }
            return "\(side).mid_block.attentions.0.\(module).\(parts[4])"
        case "down" where side == "encoder", "up" where side == "decoder":
            guard parts.count >= 5, let index = Int(parts[2]), index >= 0, index < blocks else { return nil }
            let block = side == "encoder" ? "encoder.down_blocks.\(index)" : "decoder.up_blocks.\(blocks - 1 - index)"
            let rest = parts.dropFirst(4).joined(separator: ".")
            if parts[3] == "block", parts.count >= 6, let layer = Int(parts[4]), layer >= 0 {
                return vaeResnet(parts.dropFirst(5).joined(separator: ".")).map { "\(block).resnets.\(layer).\($0)" }
            }
            if parts[3] == "downsample" || parts[3] == "upsample", rest.hasPrefix("conv.") {
                return "\(block).\(parts[3] == "downsample" ? "downsamplers" : "upsamplers").0.\(rest)"
            }
            return nil
        default:
            return nil
        }
    }
}
