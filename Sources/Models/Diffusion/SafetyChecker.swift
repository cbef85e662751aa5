// diffusers' `StableDiffusionSafetyChecker` (pipelines/stable_diffusion/safety_checker.py, 0.42.1) with the
// `CLIPImageProcessor` preprocessing (transformers 5.23) of its `feature_extractor`.
import Foundation
import Kernels
import Media
import ModelKit
import Tensor

/// The safety checker's `config.json` (a transformers `CLIPConfig`): the vision tower's
/// configuration and the width of the projection. The text side is not used.
public struct SafetyCheckerConfiguration: Sendable, Equatable, Codable {
    /// `vision_config`, transformers' `CLIPVisionConfig` defaults for absent fields.
    public var vision: CLIPVisionConfiguration
    /// `projection_dim` (default 512; the SD safety checker has 768).
    public var projectionDimension: Int

    /// A configuration.
    public init(vision: CLIPVisionConfiguration = CLIPVisionConfiguration(), projectionDimension: Int = 512) {
        self.vision = vision
        self.projectionDimension = projectionDimension
    }

    enum CodingKeys: String, CodingKey {
        case vision = "vision_config", projectionDimension = "projection_dim"
    }

    /// Decodes transformers' names, absent fields taking their defaults.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vision = try c.decodeIfPresent(CLIPVisionConfiguration.self, forKey: .vision) ?? CLIPVisionConfiguration()
        projectionDimension = try c.decodeIfPresent(Int.self, forKey: .projectionDimension) ?? 512
    }

    /// Decodes a `config.json`.
    /// - Throws: `ModelError(.weightsInvalid)` naming what is malformed.
    public init(json: Data) throws {
        self = try DiffusionConfigError.decode(Self.self, from: json, file: "safety checker config.json")
    }
}

/// transformers' `CLIPImageProcessor` settings from `feature_extractor/preprocessor_config.json`:
/// resize so the shorter side is `size.shortest_edge`, center crop to `crop_size`, rescale and
/// normalize per channel. Absent fields take `CLIPImageProcessor`'s defaults.
public struct CLIPImagePreprocessing: Sendable, Equatable {
    /// `do_resize` (default true).
    public var resize: Bool
    /// `size.shortest_edge` (default 224).
    public var shortestEdge: Int
    /// `do_center_crop` (default true).
    public var centerCrop: Bool
    /// `crop_size` height and width (default 224 × 224).
    public var cropHeight: Int, cropWidth: Int
    /// `do_rescale` and `rescale_factor` (default true, 1/255).
    public var rescale: Bool, rescaleFactor: Float
    /// `do_normalize`, `image_mean`, `image_std` (default true and OpenAI CLIP's statistics).
    public var normalize: Bool, mean: [Float], std: [Float]

    /// Largest accepted side.
    public static let maxSide = 4096
    /// Longest side an image may have after the resize (an aspect ratio of 64 at 224).
    public static let maxResizedSide = 16_384

    /// CLIPImageProcessor's defaults, with the sizes given.
    public init(shortestEdge: Int = 224, cropHeight: Int = 224, cropWidth: Int = 224) {
        resize = true
        self.shortestEdge = shortestEdge
        centerCrop = true
        self.cropHeight = cropHeight
        self.cropWidth = cropWidth
        rescale = true
        rescaleFactor = 1 / 255
        normalize = true
        mean = [0.48145466, 0.4578275, 0.40821073]
        std = [0.26862954, 0.26130258, 0.27577711]
    }

    /// Reads a `preprocessor_config.json`.
    /// - Throws: `ModelError(.weightsInvalid)` naming the malformed or out-of-range field.
    public init(json: Data) throws {
        let object = try DiffusionCheckpoint.jsonObject(json, "preprocessor_config.json")
        self.init()
        func fail(_ field: String) -> ModelError { ModelError(.weightsInvalid, "preprocessor_config.json: \(field) is malformed or out of range") }
        func side(_ value: Any?, _ field: String) throws -> Int? {
            guard let value, !(value is NSNull) else { return nil }
            guard let n = value as? Int, (1...Self.maxSide).contains(n) else { throw fail(field) }
            return n
        }
        if let flag = object["do_resize"] as? Bool { resize = flag }
        if let flag = object["do_center_crop"] as? Bool { centerCrop = flag }
        if let flag = object["do_rescale"] as? Bool { rescale = flag }
        if let flag = object["do_normalize"] as? Bool { normalize = flag }
        switch object["size"] {
        case let size as [String: Any]: shortestEdge = try side(size["shortest_edge"], "size.shortest_edge") ?? shortestEdge
        case let n as Int: shortestEdge = try side(n, "size") ?? shortestEdge
        default: break
        }
        switch object["crop_size"] {
        case let crop as [String: Any]:
            cropHeight = try side(crop["height"], "crop_size.height") ?? cropHeight
            cropWidth = try side(crop["width"], "crop_size.width") ?? cropWidth
        case let n as Int:
            cropHeight = try side(n, "crop_size") ?? cropHeight
            cropWidth = cropHeight
        default: break
        }
        if let factor = object["rescale_factor"] as? Double {
            guard factor.isFinite else { throw fail("rescale_factor") }
            rescaleFactor = Float(factor)
        }
        for (field, fallback) in [("image_mean", mean), ("image_std", std)] {
            guard let value = object[field], !(value is NSNull) else { continue }
            let values: [Float]
            if let list = value as? [Double] { values = list.map(Float.init) } else if let one = value as? Double { values = [Float](repeating: Float(one), count: 3) } else { throw fail(field) }
            guard values.count == fallback.count, values.allSatisfy(\.isFinite), field == "image_mean" || values.allSatisfy({ $0 != 0 }) else { throw fail(field) }
            if field == "image_mean" { mean = values } else { std = values }
        }
    }

    /// The processor's output for RGB images, `[N, 3, cropHeight, cropWidth]` (when cropping).
    ///
    /// The resize is `PlaneResize`'s bicubic without antialiasing, rounded back to 8 bits as
    /// PIL's resize of an 8-bit image is; PIL's bicubic widens its kernel when downscaling
    /// (antialiasing), so downscaled inputs differ from transformers' slightly. Images already
    /// at the crop size pass through unchanged, as they do in transformers.
    /// - Throws: `ModelError(.invalidInput)` for an empty list, 16-bit images, or an image so
    ///   elongated that its resize would be longer than ``maxResizedSide``.
    public func pixels(_ images: [Image]) throws -> Tensor {
        guard !images.isEmpty else { throw ModelError(.invalidInput, "safety checker: no images") }
        let planes = try images.map { image -> Tensor in
            guard case .uint8(let samples) = image.samples else { throw ModelError(.invalidInput, "safety checker: images must be 8-bit") }
            var (width, height) = (image.width, image.height)
            var plane = Tensor(uninitialized: Shape([1, 3, height, width]))
            let colors = image.colorChannels
            for p in 0..<(width * height) {
                for c in 0..<3 { plane.floatPointer[c * width * height + p] = Float(samples[p * image.channels + (colors == 1 ? 0 : c)]) }
            }
            if resize {
                // transformers' `get_resize_output_image_size(default_to_square=False)`.
                let short = min(width, height), long = max(width, height)
                let scaledLong = Double(shortestEdge) * Double(long) / Double(short)
                // Extreme aspect ratios would size the resized plane from untrusted numbers.
                guard scaledLong <= Double(Self.maxResizedSide) else {
                    throw ModelError(.invalidInput, "safety checker: a \(image.width)×\(image.height) image resized to a shorter side of "
                                     + "\(shortestEdge) is longer than \(Self.maxResizedSide)")
                }
                let newLong = Int(scaledLong)
                let (w, h) = width <= height ? (shortestEdge, newLong) : (newLong, shortestEdge)
                if (w, h) != (width, height) {
                    plane = try PlaneResize.resize(plane, width: w, height: h, filter: .bicubic)
                    let p = plane.floatPointer
                    for i in 0..<plane.count { p[i] = min(255, max(0, p[i].rounded(.toNearestOrEven))) }
                    (width, height) = (w, h)
                }
            }
            if centerCrop {
                plane = crop(plane, width: width, height: height)
                (width, height) = (cropWidth, cropHeight)
            }
            let p = plane.floatPointer, count = width * height
            for c in 0..<3 {
                for i in 0..<count {
                    var v = p[c * count + i]
                    if rescale { v *= rescaleFactor }
                    if normalize { v = (v - mean[c]) / std[c] }
                    p[c * count + i] = v
                }
            }
            return plane
        }
        guard let first = planes.first, planes.allSatisfy({ $0.shape == first.shape }) else {
            throw ModelError(.invalidInput, "safety checker: images of different sizes after preprocessing")
        }
        let out = Tensor(uninitialized: Shape([planes.count] + first.shape.dims.dropFirst()))
        for (n, plane) in planes.enumerated() { (out.floatPointer + n * first.count).update(from: plane.floatPointer, count: first.count) }
        return out
    }

    /// The centered `cropWidth` × `cropHeight` window (`top = (height - cropHeight) / 2`, as
    /// transformers' `center_crop`), zero outside the image.
    private func crop(_ plane: Tensor, width: Int, height: Int) -> Tensor {
        let out = Tensor(zeros: Shape([1, 3, cropHeight, cropWidth]))
        let top = (height - cropHeight) / 2, left = (width - cropWidth) / 2
        let src = plane.floatPointer, dst = out.floatPointer
        for c in 0..<3 {
            for y in 0..<cropHeight where (0..<height).contains(y + top) {
                for x in 0..<cropWidth where (0..<width).contains(x + left) {
                    dst[(c * cropHeight + y) * cropWidth + x] = src[(c * height + y + top) * width + x + left]
                }
            }
        }
        return out
    }
}

/// The Stable Diffusion safety checker: a CLIP vision tower embeds each image, and the image is
/// flagged when its cosine similarity to one of 17 concept embeddings exceeds that concept's
/// threshold, with the thresholds lowered by 0.01 once one of 3 "special care" embeddings
/// matched, exactly as diffusers 0.42.1 decides it (float32 differences rounded to three
/// decimals). Flagged images are replaced by black ones, as diffusers does.
public final class SafetyChecker: Sendable {
    /// The per-image scores behind a decision.
    public struct Scores: Sendable, Equatable {
        /// `round(cos - threshold + adjustment, 3)` per special-care concept.
        public var special: [Float]
        /// `round(cos - threshold + adjustment, 3)` per concept.
        public var concepts: [Float]
        /// Whether any concept score is above 0 (`has_nsfw_concept`).
        public var flagged: Bool { concepts.contains { $0 > 0 } }
    }

    /// The vision tower and its projection.
    public let encoder: CLIPVisionEncoder
    /// How images are prepared for the tower.
    public let preprocessing: CLIPImagePreprocessing
    /// `concept_embeds` `[17, P]` and `special_care_embeds` `[3, P]`, normalized rows.
    private let concepts: [[Float]], special: [[Float]]
    /// `concept_embeds_weights` and `special_care_embeds_weights`: the thresholds.
    private let conceptThresholds: [Float], specialThresholds: [Float]

    /// Bytes of the prepared weights.
    public var weightBytes: Int { encoder.weightBytes + (concepts.count + special.count) * encoder.projectionDimension * 4 }

    /// Builds the checker.
    ///
    /// Tensor names are the checkpoint's: `vision_model.vision_model.*` (transformers 4 files,
    /// as the CompVis checker ships) or `vision_model.*` (transformers 5), `visual_projection.weight`,
    /// `concept_embeds`, `special_care_embeds`, `concept_embeds_weights`, `special_care_embeds_weights`.
    /// - Throws: `ModelError(.weightsInvalid)` for an invalid configuration, a crop size other
    ///   than the tower's `image_size`, or an unused tensor; `ModelFormatError(.malformed)` naming
    ///   a missing or mis-shaped tensor.
    public init(configuration: SafetyCheckerConfiguration, preprocessing: CLIPImagePreprocessing, weights: DiffusionWeights,
                pool: ComputePool) throws {
        let v = configuration.vision
        guard v.channels == 3 else { throw ModelError(.weightsInvalid, "safety checker: num_channels \(v.channels), expected 3") }
        guard preprocessing.centerCrop, preprocessing.cropWidth == v.imageSize, preprocessing.cropHeight == v.imageSize else {
            throw ModelError(.weightsInvalid, "safety checker: the feature extractor's crop \(preprocessing.cropWidth)×\(preprocessing.cropHeight) "
                             + "is not the vision model's image_size \(v.imageSize)")
        }
        let prefix = weights.contains("vision_model.vision_model.embeddings.class_embedding") ? "vision_model.vision_model" : "vision_model"
        var reader = CLIPTextEncoder.WeightReader(weights: weights, prefix: prefix)
        encoder = try CLIPVisionEncoder(configuration: v, reader: &reader, projection: "visual_projection",
                                        projectionDimension: configuration.projectionDimension, pool: pool)
        let p = configuration.projectionDimension
        func rows(_ name: String, _ count: Int) throws -> [[Float]] {
            let values = try reader.tensor(name, [count, p], global: true).toArray()
            return (0..<count).map { Self.normalized(Array(values[$0 * p..<($0 + 1) * p])) }
        }
        concepts = try rows("concept_embeds", 17)
        special = try rows("special_care_embeds", 3)
        conceptThresholds = try reader.tensor("concept_embeds_weights", [17], global: true).toArray()
        specialThresholds = try reader.tensor("special_care_embeds_weights", [3], global: true).toArray()
        self.preprocessing = preprocessing
        try reader.checkAllUsed()
    }

    /// `nn.functional.normalize`: `x / max(‖x‖, 1e-12)`.
    static func normalized(_ x: [Float]) -> [Float] {
        let norm = max(x.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-12)
        return x.map { $0 / norm }
    }

    /// The projected image embeddings, `[N, projection_dim]`.
    public func embeddings(_ images: [Image]) throws -> Tensor {
        try encoder.embed(preprocessing.pixels(images))
    }

    /// diffusers' scores for embeddings `[N, projection_dim]`.
    public func scores(embeddings: Tensor) -> [Scores] {
        let p = encoder.projectionDimension
        let values = embeddings.toArray()
        return (0..<embeddings.shape[0]).map { n in
            let image = Self.normalized(Array(values[n * p..<(n + 1) * p]))
            func cosine(_ row: [Float]) -> Float { zip(image, row).reduce(0) { $0 + $1.0 * $1.1 } }
            var adjustment: Float = 0
            var specialScores: [Float] = []
            for (row, threshold) in zip(special, specialThresholds) {
                specialScores.append(Self.score(cosine(row), threshold, adjustment))
                // Once a special-care concept matched, every later threshold is 0.01 lower.
                if specialScores.last! > 0 { adjustment = 0.01 }
            }
            let conceptScores = zip(concepts, conceptThresholds).map { Self.score(cosine($0), $1, adjustment) }
            return Scores(special: specialScores, concepts: conceptScores)
        }
    }

    /// `round(cos - threshold + adjustment, 3)` as NumPy 2 evaluates it on a float32 `cos`:
    /// the Python floats are cast to float32, and `round` is `rint(x · 1000) / 1000` in float32.
    static func score(_ cosine: Float, _ threshold: Float, _ adjustment: Float) -> Float {
        let difference = (cosine - threshold) + adjustment
        return (difference * 1000).rounded(.toNearestOrEven) / 1000
    }

    /// Whether each image is flagged (`has_nsfw_concepts`).
    /// - Throws: `ModelError(.invalidInput)` for an empty list or 16-bit images.
    public func check(_ images: [Image]) throws -> [Bool] {
        scores(embeddings: try embeddings(images)).map(\.flagged)
    }

    /// The images with the flagged ones replaced by black, and the flags.
    public func filter(_ images: [Image]) throws -> (images: [Image], nsfw: [Bool]) {
        let flags = try check(images)
        return (try zip(images, flags).map { try $1 ? Self.black(like: $0) : $0 }, flags)
    }

    /// An all-zero image of the same size, channels and depth (diffusers' `np.zeros` replacement).
    public static func black(like image: Image) throws -> Image {
        try Image(width: image.width, height: image.height, channels: image.channels, bitDepth: image.bitDepth)
    }
}
