// Stable Diffusion endpoints (SD 1.x, 2.x, XL; Rombach et al., "High-Resolution Image Synthesis with
// Latent Diffusion Models") with fal's fast-sdxl request and response schemas.
import Foundation
import Kernels
import ModelKit

/// One endpoint of a user's Stable Diffusion checkpoint registered by a
/// ``StableDiffusionManifest``: text-to-image at `ENDPOINT`, image-to-image at
/// `ENDPOINT/image-to-image`, inpainting at `ENDPOINT/inpainting`.
public struct StableDiffusionModel: Model {
    /// What an endpoint of the checkpoint does.
    public enum Task: String, Sendable, CaseIterable {
        case textToImage = "text-to-image"
        case imageToImage = "image-to-image"
        case inpainting

        /// The endpoint path below the text-to-image id (nil for text-to-image itself).
        var path: String? { self == .textToImage ? nil : rawValue }
    }

    /// The registration.
    public let definition: StableDiffusionManifest
    /// This endpoint's task.
    public let task: Task
    /// Convolution precision (`PEREGRINE_PRECISION` for the endpoint, fp32 by default).
    public var precision: ComputePrecision
    /// The gallery entry.
    public let manifest: ModelManifest

    /// - Parameters:
    ///   - definition: the registration.
    ///   - task: which of its three endpoints.
    ///   - precision: convolution precision.
    public init(definition: StableDiffusionManifest, task: Task, precision: ComputePrecision = .fp32) {
        self.definition = definition
        self.task = task
        self.precision = precision
        let id = task.path.map { "\(definition.endpointID)/\($0)" } ?? definition.endpointID
        let schemaName = Self.schemaName(definition.endpointID) + (task == .textToImage ? "" : Self.schemaName(task.rawValue))
        // Weights are mapped and converted to the compute precision once: twice the files'
        // size covers an fp16 checkpoint held as fp32, plus activations.
        let estimate = definition.memoryEstimateBytes ?? max(512 << 20, 2 * Self.size(of: URL(fileURLWithPath: definition.checkpoint)))
        let what = task == .textToImage ? "Text-to-image" : task == .imageToImage ? "Image-to-image" : "Inpainting"
        manifest = ModelManifest(
            endpointID: id, category: task.rawValue, displayName: task == .textToImage ? definition.title : "\(definition.title) (\(task.rawValue))",
            description: definition.description.isEmpty
                ? "\(what) with a Stable Diffusion \(definition.family.rawValue) checkpoint (\(URL(fileURLWithPath: definition.checkpoint).lastPathComponent))."
                : definition.description,
            inputSchema: TextToImageSchema.input(task, schemaName: schemaName), outputSchema: TextToImageSchema.output(schemaName: schemaName),
            schemaName: schemaName,
            weights: [WeightsFile(path: definition.checkpoint, source: definition.source ?? "local:\(definition.checkpoint)",
                                  sha256: definition.sha256 ?? "", license: "as published by the checkpoint's authors")],
            memoryEstimateBytes: estimate, maxConcurrency: definition.maxConcurrency, computeDemand: .wholePool,
            // Seeded sampling is reproducible only against a checkpoint pinned by its digest.
            determinism: definition.sha256 == nil ? .none : .seeded)
    }

    /// The kernel path and precision on this CPU.
    public var computePath: String { KernelPath.current.summary(bf16Requested: precision == .bf16) }

    /// The Stable Diffusion manifest in `url`, or nil when the file is some other manifest.
    /// - Throws: ``ManifestError`` naming the file and field when it is a Stable Diffusion
    ///   manifest that does not parse.
    public static func manifest(at url: URL) throws -> StableDiffusionManifest? {
        guard let data = try? Data(contentsOf: url), let json = try? JSONValue(parsing: data),
              StableDiffusionManifest.describes(json) else { return nil }
        do {
            return try StableDiffusionManifest(json: json)
        } catch let error as ManifestError {
            throw error.inFile(url.lastPathComponent)
        }
    }

    /// Opens the checkpoint (mapped, not read) and builds the pipeline on the compute pool.
    /// - Throws: `ModelError` `.weightsMissing` (503) when the checkpoint is gone,
    ///   `.weightsInvalid` naming the component or tensor that does not match.
    public func load(context: LoadContext) async throws -> any LoadedModel {
        let url = URL(fileURLWithPath: definition.checkpoint)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw ModelError(.weightsMissing, "\(manifest.endpointID): the checkpoint \(url.path) does not exist (peregrine models add registers it again)")
        }
        let pool = try context.computePool()
        return try await LoadedStableDiffusion.load(self, pool: pool, modelDirectory: context.modelDirectory)
    }

    /// `local/sd-turbo` → `LocalSdTurbo`: OpenAPI component names.
    static func schemaName(_ text: String) -> String {
        text.split(whereSeparator: { !$0.isLetter && !$0.isNumber }).map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
    }

    /// Bytes of a file, or of the files under a folder.
    static func size(of url: URL) -> Int {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: url.path, isDirectory: &isDirectory) else { return 0 }
        guard isDirectory.boolValue else { return (try? fm.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0 }
        var total = 0
        let enumerator = fm.enumerator(at: url, includingPropertiesForKeys: [.fileSizeKey])
        while let item = enumerator?.nextObject() as? URL {
            total += (try? item.resourceValues(forKeys: [.fileSizeKey]).fileSize) ?? 0
        }
        return total
    }
}
