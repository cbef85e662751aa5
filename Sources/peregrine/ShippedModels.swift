import Foundation
import ModelKit
import Server

/// The models the binary serves: the engine's gallery. Every command that serves or runs models
/// takes them from here, so adding a family is one line.
enum ShippedModels {
    static func all(configuration: ServerConfiguration) -> [any Model] {
        []
    }
}
