import Foundation
import ModelKit

/// A Stable Diffusion request's fields, parsed from the (schema-validated) body into bounded
/// values. Parsing re-checks every bound the schema states, so a caller that skips validation
/// still cannot reach the pipeline with a size it cannot hold.
struct TextToImageInput: Sendable {
    var prompt: String
    var negativePrompt: String
    /// nil: the model's native square.
    var size: (width: Int, height: Int)?
    /// nil: the model's default.
    var steps: Int?
    /// nil: the model's default.
    var guidanceScale: Float?
    /// nil: drawn at random (and reported).
    var seed: UInt64?
    var imageCount: Int
    var safetyChecker: Bool
    /// `jpeg` or `png`.
    var outputFormat: String
    var imageURL: String?
    var maskURL: String?
    /// LoRAs to apply: a URL (or data URI) of each file and its scale.
    var loras: [(path: String, scale: Float)]
    var strength: Float

    /// An input error naming the field, in fal's 422 shape.
    static func invalid(_ field: String..., message: String) -> ModelError {
        ModelError(.invalidInput, "\(field.joined(separator: ".")): \(message)", status: 422, field: ["body"] + field)
    }

    /// - Throws: `ModelError` 422 naming the field that is missing or out of range.
    init(_ input: JSONValue, task: StableDiffusionModel.Task) throws {
        typealias S = TextToImageSchema
        guard let prompt = input["prompt"]?.stringValue, !prompt.isEmpty else {
            throw Self.invalid("prompt", message: "field required")
        }
        guard prompt.count <= S.maxPromptLength else {
            throw Self.invalid("prompt", message: "longer than \(S.maxPromptLength) characters")
        }
        self.prompt = prompt
        negativePrompt = input["negative_prompt"]?.stringValue ?? ""
        guard negativePrompt.count <= S.maxPromptLength else {
            throw Self.invalid("negative_prompt", message: "longer than \(S.maxPromptLength) characters")
        }
        size = try Self.size(input["image_size"])
        if let value = input["num_inference_steps"] {
            guard let n = value.intValue, (1...Int64(S.maxSteps)).contains(n) else {
                throw Self.invalid("num_inference_steps", message: "must be an integer in 1...\(S.maxSteps)")
            }
            steps = Int(n)
        }
        if let value = input["guidance_scale"] {
            guard let g = value.doubleValue, (0...20).contains(g) else {
                throw Self.invalid("guidance_scale", message: "must be a number in 0...20")
            }
            guidanceScale = Float(g)
        }
        if let value = input["seed"] {
            guard let s = value.intValue, (0...S.maxSeed).contains(s) else {
                throw Self.invalid("seed", message: "must be an integer in 0...\(S.maxSeed)")
            }
            seed = UInt64(s)
        }
        let count = input["num_images"]?.intValue ?? 1
        guard (1...Int64(S.maxImages)).contains(count) else {
            throw Self.invalid("num_images", message: "must be an integer in 1...\(S.maxImages)")
        }
        imageCount = Int(count)
        safetyChecker = input["enable_safety_checker"]?.boolValue ?? true
        outputFormat = input["output_format"]?.stringValue ?? "jpeg"
        guard ["jpeg", "png"].contains(outputFormat) else {
            throw Self.invalid("output_format", message: "must be jpeg or png, got '\(outputFormat)'")
        }
        loras = []
        if let value = input["loras"] {
            guard let items = value.arrayValue, items.count <= S.maxLoRAs else {
                throw Self.invalid("loras", message: "must be a list of at most \(S.maxLoRAs) {path, scale} objects")
            }
            for (i, item) in items.enumerated() {
                guard let path = item["path"]?.stringValue, !path.isEmpty, path.count <= 4096 else {
                    throw Self.invalid("loras", "\(i)", "path", message: "field required (a URL of a .safetensors LoRA)")
                }
                var scale: Float = 1
                if let v = item["scale"] {
                    guard let d = v.doubleValue, d.isFinite, (0...4).contains(d) else {
                        throw Self.invalid("loras", "\(i)", "scale", message: "must be a number in 0...4")
                    }
                    scale = Float(d)
                }
                loras.append((path, scale))
            }
        }
        strength = 1
        if task == .inpainting {
            guard let url = input["mask_url"]?.stringValue, !url.isEmpty else { throw Self.invalid("mask_url", message: "field required") }
            maskURL = url
        }
        if task != .textToImage {
            guard let url = input["image_url"]?.stringValue, !url.isEmpty else { throw Self.invalid("image_url", message: "field required") }
            imageURL = url
            if let value = input["strength"] {
                guard let s = value.doubleValue, s > 0, s <= 1 else { throw Self.invalid("strength", message: "must be in (0, 1]") }
                strength = Float(s)
            } else {
                strength = 0.95
            }
        }
    }

    /// `image_size`: a named size or `{width, height}`, each side in 64...2048 and a multiple of 8.
    static func size(_ value: JSONValue?) throws -> (width: Int, height: Int)? {
        guard let value else { return nil }
        if let name = value.stringValue {
            guard let named = TextToImageSchema.namedSizes.first(where: { $0.name == name }) else {
                let names = TextToImageSchema.namedSizes.map(\.name).joined(separator: ", ")
                throw invalid("image_size", message: "unknown size '\(name)'; allowed: \(names) or {width, height}")
            }
            return (named.width, named.height)
        }
        guard value.objectValue != nil else { throw invalid("image_size", message: "must be a named size or {width, height}") }
        func side(_ key: String) throws -> Int {
            guard let n = value[key]?.intValue else { throw invalid("image_size", key, message: "field required (an integer)") }
            guard (64...Int64(TextToImageSchema.maxSide)).contains(n) else {
                throw invalid("image_size", key, message: "must be in 64...\(TextToImageSchema.maxSide), got \(n)")
            }
            guard n % 8 == 0 else {
                throw invalid("image_size", key, message: "\(n) is not a multiple of 8 (the latent is 1/8 of the image)")
            }
            return Int(n)
        }
        return (try side("width"), try side("height"))
    }
}

/// Whether the machine can hold a request's working memory, estimated before any is allocated.
enum DiffusionBudget {
    /// Working bytes per output pixel of one image: the full VAE decoder's widest activations
    /// (128 channels at full resolution, two of them live, fp32) dominate a pipeline's peak.
    static let bytesPerPixel = 2 * 128 * 4 + 256

    /// The estimated working memory of `images` images of `width`×`height`, saturating.
    static func workingBytes(width: Int, height: Int, images: Int) -> Int {
        var product = bytesPerPixel
        for factor in [width, height, images] {
            let (next, overflow) = product.multipliedReportingOverflow(by: factor)
            product = overflow ? .max : next
        }
        return product
    }

    /// - Throws: a 422 naming `image_size` when the working memory of `images` images (the
    ///   pipeline decodes them as one batch) with the loaded weights exceeds `available`.
    static func check(width: Int, height: Int, images: Int, footprint: Int, available: UInt64) throws {
        let need = workingBytes(width: width, height: height, images: images)
        let (total, overflow) = need.addingReportingOverflow(footprint)
        guard overflow || UInt64(total) > available else { return }
        func gib(_ bytes: UInt64) -> String { String(format: "%.1f GiB", Double(bytes) / Double(1 << 30)) }
        throw TextToImageInput.invalid(
            "image_size",
            message: "\(images) image(s) of \(width)×\(height) need about \(gib(UInt64(need))) of working memory besides \(gib(UInt64(footprint))) of weights; this machine has \(gib(available))")
    }
}
