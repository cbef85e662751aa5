import APITypes
import ArgumentParser
import Foundation
import ModelKit
import Models
import Server
import Weights

/// `peregrine models list [--json]`.
struct ModelsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models", abstract: "Inspect the models this binary serves.", subcommands: [List.self, Pull.self, Add.self, Scale.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List the served models.")

        @Flag(help: "Print JSON (the body of GET /models).")
        var json = false
        @OptionGroup var options: ServerOptions

        func run() async throws {
            let models = try ShippedModels.all(configuration: try options.resolve())
            if json {
                let list = ModelList(models: models.map { ModelInfo(manifest: $0.manifest) })
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(list), as: UTF8.self))
                return
            }
            if models.isEmpty {
                print("no models")
                return
            }
            let width = models.map(\.manifest.endpointID.count).max() ?? 0
            for m in models.map(\.manifest) {
                print("\(m.endpointID.padding(toLength: width, withPad: " ", startingAt: 0))  \(m.category)  \(m.description)")
            }
        }
    }

    /// `peregrine models pull NAME...`: fetches published weights into the model cache.
    struct Pull: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "pull",
            abstract: "Download and verify a model's published weights into $PEREGRINE_HOME/models.",
            discussion: "Known names: \(ModelPuller.names.joined(separator: ", ")).")

        @Argument(help: "Weights package names (default: all).")
        var names: [String] = []
        @OptionGroup var options: ServerOptions

        func run() async throws {
            let configuration = try options.resolve()
            let puller = ModelPuller(modelDirectory: configuration.modelsDirectory)
            let chosen = names.isEmpty ? ModelPuller.names : names
            for name in chosen where ModelPuller.package(named: name) == nil {
                throw ValidationError("unknown model '\(name)'; known: \(ModelPuller.names.joined(separator: ", "))")
            }
            // Progress on stderr (a bar on a terminal); stdout keeps one result line per package.
            let progress = ProgressPrinter()
            for (index, name) in chosen.enumerated() {
                progress.step(index, of: chosen.count, name)
                let files = try await puller.pull(name) { line in progress.step(index, of: chosen.count, line) }
                progress.step(index + 1, of: chosen.count, "\(name): done")
                progress.finish()
                print("\(name): \(files.count) file(s) in \(configuration.modelsDirectory.appendingPathComponent(name).path)")
            }
        }
    }
}
