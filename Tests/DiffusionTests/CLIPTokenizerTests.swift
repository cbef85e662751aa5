import Foundation
import ModelKit
import Weights
import Testing
@testable import Models

/// Pulls the CLIP merge list once per test process (into `<repo>/.peregrine-test/models`).
actor CLIPVocabulary {
    static let shared = CLIPVocabulary()
    private var pull: Task<URL, Error>?

    func url() async throws -> URL {
        if pull == nil {
            pull = Task {
                let urls = try await ModelPuller(modelDirectory: DiffusionFixtures.modelDirectory).pull(WeightsCatalog.clipTokenizer)
                return urls[0]
            }
        }
        return try await pull!.value
    }
}

@Suite("CLIPTokenizer")
struct CLIPTokenizerTests {
    struct Golden: Decodable {
        struct Case: Decodable {
            var p: String
            var sd1: [Int32]
            var sd2: [Int32]?
        }
        var cases: [Case]
    }

    static func golden() throws -> Golden {
        try JSONDecoder().decode(Golden.self, from: DiffusionFixtures.golden("tokenizer.json"))
    }

    @Test("equals transformers' CLIPTokenizer on every golden prompt, both padding conventions",
          arguments: [CLIPTokenizer.Padding.endOfText, .exclamation])
    func matchesTransformers(padding: CLIPTokenizer.Padding) async throws {
        let tokenizer = try CLIPTokenizer(openAIMergesGzip: try await CLIPVocabulary.shared.url(), padding: padding)
        let golden = try Self.golden()
        #expect(golden.cases.count >= 1000)
        var failures = 0
        for testCase in golden.cases {
            let expected = padding == .endOfText ? testCase.sd1 : testCase.sd2 ?? testCase.sd1
            let ids = tokenizer.encode(testCase.p)
            if ids != expected {
                failures += 1
                if failures <= 10 { Issue.record("\(testCase.p.debugDescription): \(ids) != \(expected)") }
            }
            let padded = tokenizer(testCase.p)
            #expect(padded.count == 77)
            #expect(padded.prefix(ids.count).elementsEqual(ids))
            #expect(padded.dropFirst(ids.count).allSatisfy { $0 == tokenizer.padID })
        }
        #expect(failures == 0)
        #expect(tokenizer.padID == (padding == .endOfText ? 49407 : 0))
    }

    @Test("a diffusers tokenizer folder loads with its padding token and tokenizes the same")
    func diffusersFolder() async throws {
        let gz = try await CLIPVocabulary.shared.url()
        let text = String(decoding: try Gunzip.decompress(Data(contentsOf: gz)), as: UTF8.self)
        let merges = text.split(separator: "\n", omittingEmptySubsequences: false)[1...(49152 - 256 - 2)]
        var tokens = CLIPTokenizer.byteSymbolsInVocabularyOrder + CLIPTokenizer.byteSymbolsInVocabularyOrder.map { $0 + "</w>" }
        tokens += merges.map { $0.replacingOccurrences(of: " ", with: "") } + ["<|startoftext|>", "<|endoftext|>"]
        var vocabulary = [String: Int]()
        for (id, token) in tokens.enumerated() where vocabulary[token] == nil { vocabulary[token] = id }

        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("clip-tokenizer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try JSONSerialization.data(withJSONObject: vocabulary).write(to: folder.appendingPathComponent("vocab.json"))
        try Data(("#version: 0.2\n" + merges.joined(separator: "\n") + "\n").utf8).write(to: folder.appendingPathComponent("merges.txt"))

        let golden = try Self.golden()
        for (pad, padding) in [("!", CLIPTokenizer.Padding.exclamation), ("<|endoftext|>", .endOfText)] {
            let config = ["pad_token": ["content": pad, "normalized": false], "model_max_length": 77] as [String: Any]
            try JSONSerialization.data(withJSONObject: config).write(to: folder.appendingPathComponent("special_tokens_map.json"))
            let tokenizer = try CLIPTokenizer(folder: folder)
            #expect(tokenizer.padding == padding)
            for testCase in golden.cases.prefix(300) {
                #expect(tokenizer.encode(testCase.p) == (padding == .endOfText ? testCase.sd1 : testCase.sd2 ?? testCase.sd1))
            }
        }

        try JSONSerialization.data(withJSONObject: ["pad_token": "<pad>"]).write(to: folder.appendingPathComponent("special_tokens_map.json"))
        #expect(throws: ModelError.self) { try CLIPTokenizer(folder: folder) }
        try FileManager.default.removeItem(at: folder.appendingPathComponent("merges.txt"))
        #expect(throws: ModelError.self) { try CLIPTokenizer(folder: folder) }
    }

    @Test("long prompts are cut to 75 tokens between start and end")
    func truncation() async throws {
        let tokenizer = try CLIPTokenizer(openAIMergesGzip: try await CLIPVocabulary.shared.url(), padding: .endOfText)
        let ids = tokenizer(String(repeating: "cat ", count: 200))
        #expect(ids.count == 77)
        #expect(ids.first == 49406 && ids.last == 49407)
        #expect(ids[1..<76].allSatisfy { $0 == 2368 })
        #expect(tokenizer.encode("") == [49406, 49407])
        // Tokenizing stops at the limit, and the limited tokens are the full run's prefix.
        let prompt = "A photo of an astronaut riding a horse on Mars, 8k, trending on artstation!!"
        #expect(tokenizer.tokens(prompt, limit: 5) == Array(tokenizer.tokens(prompt).prefix(5)))
        #expect(tokenizer.tokens(prompt, limit: 0).isEmpty)
        // A megabyte prompt costs only its first 75 tokens.
        #expect(tokenizer(String(repeating: "a photo of a cat, ", count: 60_000)).count == 77)
    }

    @Test("broken vocabularies are errors, not traps")
    func brokenInput() throws {
        #expect(throws: ModelError.self) { try Gunzip.decompress(Data([0x1F, 0x8B, 0x08, 0x00, 0x00])) }
        #expect(throws: ModelError.self) { try Gunzip.decompress(Data("not gzip".utf8)) }
        #expect(throws: ModelError.self) { try CLIPTokenizer(openAIMerges: "#version\na b\n", padding: .endOfText) }
        #expect(throws: ModelError.self) { try CLIPTokenizer(vocabulary: ["a": 0], merges: [], padding: .endOfText) }
    }
}
