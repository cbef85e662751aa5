import ArgumentParser

/// The `peregrine` command: server, one-shot runs, models, keys and certificates.
@main
struct Peregrine: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peregrine",
        abstract: "Self-hosted generative-media inference: a fal-compatible queue API over a fast CPU engine.",
        discussion: """
            Shell completions: peregrine --generate-completion-script bash|zsh|fish (see the README).
            """,
        subcommands: [
            ServeCommand.self, RunCommand.self, PsCommand.self, LogsCommand.self, ModelsCommand.self, KeysCommand.self, CertCommand.self,
            BenchCommand.self,
        ]
    )
}
