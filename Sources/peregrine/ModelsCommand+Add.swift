import ArgumentParser
import Foundation
import ModelKit
import Models
import Weights

extension ModelsCommand {
    /// `peregrine models add ENDPOINT --checkpoint PATH|URL`: registers a Stable Diffusion
    /// checkpoint as three endpoints (text-to-image, `/image-to-image`, `/inpainting`) by writing
    /// a manifest into the manifests directory, which `serve` and `models list` read.
    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add",
            abstract: "Register a Stable Diffusion checkpoint as text-to-image, image-to-image and inpainting endpoints.",
            discussion: """
            A local file or folder is referenced where it lies (weights are memory-mapped, never copied); \
            an https URL is downloaded into $PEREGRINE_HOME/models/checkpoints with resume and SHA-256 \
            verification. The family (sd1, sd2, sdxl) is detected from the weights unless --family is given. \
            The registration is a manifest in $PEREGRINE_HOME/models.d (or $PEREGRINE_MODEL_MANIFESTS); \
            restart `peregrine serve` to serve it.
            """)

        @Argument(help: "Endpoint id owner/alias, e.g. local/sd-turbo.")
        var endpoint: String
        @Option(help: "A diffusers folder, a single .safetensors file, or an https URL of one.")
        var checkpoint: String
        @Option(help: "Expected SHA-256 of a single-file checkpoint (64 hex digits).")
        var sha256: String?
        @Option(help: "sd1, sd2 or sdxl (default: detected from the weights).")
        var family: String?
        @Option(name: .customLong("prediction-type"), help: "epsilon or v_prediction (default: detected or the checkpoint's scheduler).")
        var predictionType: String?
        @Option(name: .customLong("preview-decoder"), help: "A TAESD/TAESDXL component folder for step previews.")
        var previewDecoder: String?

        @Option(name: .customLong("safety-checker"),
                help: "A safety checker folder (diffusers StableDiffusionSafetyChecker, or a pipeline folder holding safety_checker/) for checkpoints without one.")
        var safetyChecker: String?
        @Option(help: "Gallery title (default: the endpoint id).")
        var title: String?
        @Option(name: .customLong("max-bytes"), help: "Largest download accepted, bytes (default 34359738368).")
        var maxBytes: Int64?
        @Flag(help: "Replace an existing registration of the endpoint.")
        var force = false
        @OptionGroup var options: ServerOptions

        func run() async throws {
            let progress = ProgressPrinter()
            let registered = try await register(log: { progress.log($0) }, progress: progress)
            progress.finish()
            let ids = registered.manifest.models.map(\.manifest.endpointID)
            print("\(endpoint): \(registered.manifest.family.rawValue) checkpoint \(registered.manifest.checkpoint)")
            print("registered \(ids.joined(separator: ", ")) in \(registered.file.path)")
        }

        /// Validates, downloads when needed, opens the checkpoint and writes the manifest.
        /// - Returns: the manifest and the file it was written to.
        /// - Throws: `ValidationError` naming the option or file that is wrong.
        func register(log: (String) -> Void, progress: ProgressPrinter? = nil) async throws -> (manifest: StableDiffusionManifest, file: URL) {
            if let problem = EndpointID.problem(endpoint) { throw ValidationError("ENDPOINT \(problem)") }
            let expected = sha256?.lowercased()
            if let expected, !StableDiffusionManifest.isDigest(expected) {
                throw ValidationError("--sha256 must be 64 hexadecimal digits")
            }
            let family = try family.map { name in
                guard let f = DiffusionCheckpoint.Family(rawValue: name.lowercased()) else {
                    throw ValidationError("--family '\(name)' is not one of \(DiffusionCheckpoint.Family.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                return f
            }
            if let predictionType, !["epsilon", "v_prediction"].contains(predictionType) {
                throw ValidationError("--prediction-type '\(predictionType)' is not epsilon or v_prediction")
            }
            let configuration = try options.resolve()
            let directory = ONNXManifestModels.directory(configuration: configuration)
            let file = directory.appendingPathComponent(endpoint.replacingOccurrences(of: "/", with: "--") + ".json")
            if FileManager.default.fileExists(atPath: file.path), !force {
                throw ValidationError("\(endpoint) is already registered (\(file.path)); pass --force to replace it")
            }

            // The checkpoint: downloaded into the cache, or a local path taken as it is.
            var path: URL, source: String?, digest = expected
            if checkpoint.contains("://") {
                guard let url = URL(string: checkpoint), url.host != nil else { throw ValidationError("--checkpoint '\(checkpoint)' is not a URL") }
                let name = url.lastPathComponent
                guard name.hasSuffix(".safetensors"), name != ".safetensors" else {
                    throw ValidationError("--checkpoint URL must name a single .safetensors file (folders are added from a local path)")
                }
                path = configuration.modelsDirectory.appendingPathComponent("checkpoints", isDirectory: true)
                    .appendingPathComponent(endpoint.replacingOccurrences(of: "/", with: "--"), isDirectory: true)
                    .appendingPathComponent(name)
                var download = CheckpointDownload()
                if let maxBytes { download.maxBytes = maxBytes }
                do {
                    digest = try await download.fetch(url, to: path, sha256: expected, log: log) { received, total in
                        progress?.bytes(name, received: received, total: total)
                    }
                } catch let error as CheckpointDownload.Failure {
                    throw ValidationError(error.description)
                }
                source = url.absoluteString
            } else {
                path = URL(fileURLWithPath: checkpoint).standardizedFileURL
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: path.path, isDirectory: &isDirectory) else {
                    throw ValidationError("--checkpoint \(path.path) does not exist")
                }
                if let expected {
                    guard !isDirectory.boolValue else { throw ValidationError("--sha256 applies to a single file; \(path.path) is a folder") }
                    let actual = try FileDigest.sha256(ofFile: path)
                    guard actual == expected else { throw ValidationError("\(path.path): sha256 is \(actual), expected \(expected)") }
                }
            }
            let detected = try Self.open(path, family: family, predictionType: predictionType)
            if let family, let found = detected.found, found != family {
                log("note: the weights look like \(found.rawValue); registering as \(family.rawValue) as asked")
            }
            if detected.needsVocabulary, let vocabulary = WeightsCatalog.clipTokenizer.files.first,
               !FileManager.default.fileExists(atPath: configuration.modelsDirectory.appendingPathComponent(vocabulary.path).path) {
                log("note: this checkpoint carries no tokenizer; run `peregrine models pull clip-tokenizer` before serving it")
            }
            log("\(path.lastPathComponent): \(detected.family.rawValue)\(family == nil ? " (detected)" : ""), components \(detected.components.joined(separator: ", "))")

            var preview: String?
            if let previewDecoder {
                let url = URL(fileURLWithPath: previewDecoder).standardizedFileURL
                do {
                    let component = try DiffusionCheckpoint.component(folder: url)
                    guard component.className == "AutoencoderTiny" else {
                        throw ValidationError("--preview-decoder \(url.path) is a \(component.className), not a TAESD (AutoencoderTiny) folder")
                    }
                } catch let error as ModelError {
                    throw ValidationError("--preview-decoder \(url.path): \(error.message)")
                }
                preview = url.path
            }
            var checker: String?
            if let safetyChecker {
                let url = URL(fileURLWithPath: safetyChecker).standardizedFileURL
                do {
                    _ = try DiffusionCheckpoint.safetyChecker(folder: url)
                } catch let error as ModelError {
                    throw ValidationError("--safety-checker \(url.path): \(error.message)")
                }
                checker = url.path
            }
            let manifest = StableDiffusionManifest(
                endpointID: endpoint, checkpoint: path.path, family: detected.family, title: title, sha256: digest, source: source,
                predictionType: predictionType, previewDecoder: preview, safetyChecker: checker)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try encoder.encode(manifest.json).write(to: file, options: .atomic)
            return (manifest, file)
        }

        /// Opens the checkpoint as the server will, and reports its family.
        /// - Returns: the family to register, the one the weights show (nil when they show
        ///   none), the components found, and whether the tokenizer must come from CLIP's
        ///   vocabulary (single files).
        static func open(_ url: URL, family: DiffusionCheckpoint.Family?, predictionType: String?) throws
            -> (family: DiffusionCheckpoint.Family, found: DiffusionCheckpoint.Family?, components: [String], needsVocabulary: Bool) {
            func opened(_ family: DiffusionCheckpoint.Family?) throws -> DiffusionCheckpoint {
                do {
                    return try DiffusionCheckpoint(contentsOf: url, options: .init(family: family, predictionType: predictionType))
                } catch let error as ModelError {
                    throw ValidationError("\(url.path): \(error.message)")
                } catch {
                    throw ValidationError("\(url.path): \(error)")
                }
            }
            // Detection first (a folder's UNet configuration, a single file's tensors), then the
            // user's family when given.
            let found = try? opened(nil).family
            let checkpoint = try opened(family)
            guard let chosen = family ?? checkpoint.family else {
                throw ValidationError("\(url.path): the family could not be detected from the weights (the UNet is none of SD 1.x, 2.x, XL); pass --family sd1|sd2|sdxl")
            }
            let required = ["unet", "vae", "text_encoder"] + (chosen == .sdxl ? ["text_encoder_2"] : [])
            let missing = required.filter { checkpoint.components[$0] == nil }
            guard missing.isEmpty else {
                throw ValidationError("\(url.path): the checkpoint has no \(missing.joined(separator: ", ")) (it has \(checkpoint.components.keys.sorted().joined(separator: ", ")))")
            }
            let needsVocabulary = checkpoint.tokenizers.values.contains { if case .clipVocabulary = $0 { true } else { false } }
            return (chosen, found ?? nil, checkpoint.components.keys.sorted(), needsVocabulary)
        }
    }
}
