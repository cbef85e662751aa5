import APITypes
import ArgumentParser
import Foundation
import ModelKit
import Server

/// `peregrine models list [--json]`.
struct ModelsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models", abstract: "Inspect the models this binary serves.", subcommands: [List.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List the served models.")

        @Flag(help: "Print JSON (the body of GET /models).")
        var json = false
        @OptionGroup var options: ServerOptions

        func run() async throws {
            let models = ShippedModels.all(configuration: try options.resolve())
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
}
