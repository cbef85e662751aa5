import APITypes
import ArgumentParser
import Foundation
import JobQueue
import Platform
import Server

/// `peregrine keys create|list|revoke`: API keys in `$PEREGRINE_HOME` (or the cluster's database).
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Manage API keys.", subcommands: [Create.self, List.self, Revoke.self])

    /// Runs `body` with the key store `options` name (`--database`, else SQLite under `--home`).
    static func withStore<T: Sendable>(_ options: ServerOptions, _ body: @Sendable (any APIKeyStore) async throws -> T) async throws -> T {
        try await PlatformStores.with(try options.resolve()) { stores in try await body(stores.keys) }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a key and print it (shown once).")
        @Option(help: "A label for the key.")
        var name = "default"
        @Flag(help: "Print only id:secret (for FAL_KEY=$(peregrine keys create --quiet)).")
        var quiet = false
        @Flag(help: "An admin key: may also change runtime model settings (/admin API, peregrine models scale).")
        var admin = false
        @OptionGroup var options: ServerOptions

        func run() async throws {
            let (name, admin) = (name, admin)
            let (key, secret) = try await KeysCommand.withStore(options) { try await $0.createKey(name: name, isAdmin: admin, now: Date()) }
            if !quiet {
                FileHandle.standardError.write(Data("created \(admin ? "admin " : "")key '\(name)'; the secret is shown only now:\n".utf8))
            }
            print("\(key.id):\(secret)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List keys (never their secrets).")
        @Flag(help: "Print JSON.")
        var json = false
        @OptionGroup var options: ServerOptions

        func run() async throws {
            let keys = try await KeysCommand.withStore(options) { try await $0.listKeys() }
            if json {
                let infos = keys.map { APIKeyInfo(id: $0.id, name: $0.name, createdAt: $0.createdAt, revokedAt: $0.revokedAt, admin: $0.isAdmin) }
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(["keys": infos]), as: UTF8.self))
                return
            }
            for key in keys {
                let state = key.revokedAt.map { "revoked \($0)" } ?? "active"
                print("\(key.id)  \(key.name)\(key.isAdmin ? "  admin" : "")  created \(key.createdAt)  \(state)")
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Revoke a key.")
        @Argument(help: "The key id (the part before ':').")
        var id: String
        @OptionGroup var options: ServerOptions

        func run() async throws {
            let id = id
            guard try await KeysCommand.withStore(options, { try await $0.revokeKey(id: id, now: Date()) }) else {
                throw ValidationError("no key with id \(id)")
            }
            print("revoked \(id)")
        }
    }
}
