import Foundation
import Graph
import ModelKit
import Kernels
import ModelFormats
import Models
import Tensor
import Testing

/// diffusers' UNet2DConditionModel against the outputs `scripts/diffusion/make_unet_goldens.py`
/// recorded for small SD 1.x, SD 2.x and SDXL (+ LCM) configurations.
@Suite struct UNet2DConditionTests {
    struct Case: Decodable {
        var config: [String: JSONValue]
        var weights: [String: [Int]]
        var inputs: [String: JSONValue]
        var timesteps: [Float]
        var outputShape: [Int]
        var output: [Float]
        enum CodingKeys: String, CodingKey { case config, weights, inputs, timesteps, outputShape = "output_shape", output }
    }

    static let cases: [String: Case] = {
        (try? JSONDecoder().decode([String: Case].self, from: DiffusionFixtures.golden("unet.json"))) ?? [:]
    }()

    static func shape(_ value: JSONValue?) -> [Int] {
        guard case .array(let items) = value else { return [] }
        return items.compactMap(number).map { Int($0) }
    }

    static func number(_ value: JSONValue) -> Double? {
        switch value {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }

    static func model(_ name: String, pool: ComputePool = ComputePool(threads: 2)) throws -> (UNet2DConditionModel, Case) {
        let c = try #require(cases[name])
        let config = try UNet2DConditionConfig.decode(JSONEncoder().encode(c.config))
        let weights = DiffusionWeights(component: "unet", tensors: TinyWeights.tensors(c.weights))
        return (try UNet2DConditionModel(config: config, weights: weights, pool: pool), c)
    }

    @Test(arguments: ["sd1", "sd1_odd", "sd2", "sdxl_lcm"])
    func matchesDiffusers(_ name: String) throws {
        let (unet, c) = try Self.model(name)
        let sample = TinyWeights.input("\(name).sample", shape: Self.shape(c.inputs["sample"]))
        let context = TinyWeights.input("\(name).encoder_hidden_states", shape: Self.shape(c.inputs["encoder_hidden_states"]))
        var added: Tensor?
        if case .array(let rows) = c.inputs["time_ids"] {
            let ids = rows.map { row -> [Float] in
                guard case .array(let values) = row else { return [] }
                return values.compactMap(Self.number).map { Float($0) }
            }
            let text = TinyWeights.input("\(name).text_embeds", shape: Self.shape(c.inputs["text_embeds"]))
            added = try unet.addedConditioning(textEmbeds: text, timeIDs: ids)
        }
        let guidance = c.inputs["timestep_cond"].map { TinyWeights.input("\(name).timestep_cond", shape: Self.shape($0)) }
        let out = try unet(sample: sample, timesteps: c.timesteps, encoderHiddenStates: context, addedConditioning: added,
                           guidanceEmbedding: guidance)
        #expect(out.shape.dims == c.outputShape)
        let got = out.toArray()
        let scale = c.output.map(abs).max() ?? 1
        let error = zip(got, c.output).map { abs($0 - $1) }.max() ?? .infinity
        #expect(error <= 2e-4 * max(scale, 1), "max error \(error) at output scale \(scale)")
    }

    @Test func missingTensorIsNamed() throws {
        let c = try #require(Self.cases["sd1"])
        var tensors = TinyWeights.tensors(c.weights)
        tensors["down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight"] = nil
        let config = try UNet2DConditionConfig.decode(JSONEncoder().encode(c.config))
        #expect {
            _ = try UNet2DConditionModel(config: config, weights: DiffusionWeights(component: "unet", tensors: tensors),
                                         pool: ComputePool(threads: 1))
        } throws: { error in
            "\(error)".contains("down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight")
        }
    }

    @Test func unsupportedConfigsAreRejectedByField() throws {
        let bad: [(String, String)] = [
            (#"{"down_block_types": ["SimpleCrossAttnDownBlock2D"], "up_block_types": ["UpBlock2D"], "block_out_channels": [32]}"#,
             "SimpleCrossAttnDownBlock2D"),
            (#"{"block_out_channels": [32, 64], "attention_head_dim": [1, 2, 3], "down_block_types": ["DownBlock2D", "DownBlock2D"], "up_block_types": ["UpBlock2D", "UpBlock2D"]}"#,
             "num_attention_heads"),
            (#"{"layers_per_block": 100000}"#, "layers_per_block"),
            (#"{"block_out_channels": "wide"}"#, "block_out_channels"),
            (#"{"norm_num_groups": 7}"#, "norm_num_groups"),
        ]
        for (json, field) in bad {
            #expect(performing: { _ = try UNet2DConditionConfig.decode(Data(json.utf8)) },
                    throws: { "\($0)".contains(field) })
        }
    }

    @Test func sinusoidalEmbeddingMatchesDiffusersLayout() {
        // get_timestep_embedding(t=[0], dim=4, flip_sin_to_cos=True, shift=0): cos(0)=1, cos(0)=1, sin=0, sin=0.
        let e = UNet2DConditionModel.sinusoidalEmbedding([0, 1], dimension: 4, flipSinToCos: true, shift: 0).toArray()
        #expect(e[0..<4] == [1, 1, 0, 0])
        // Second row: frequencies exp(-ln(10000) * i / 2) = 1, 0.01.
        #expect(abs(e[4] - cos(1)) < 1e-6 && abs(e[5] - cos(0.01)) < 1e-6 && abs(e[6] - sin(1)) < 1e-6)
    }
}
