// CLIP's byte-level BPE tokenizer (OpenAI CLIP `simple_tokenizer.py`), as `transformers`' CLIPTokenizer runs it for diffusers.
import Foundation
import ModelKit

/// CLIP's byte-level BPE tokenizer, equal to `transformers`' `CLIPTokenizer` (5.x, the
/// `tokenizers`-backed one diffusers loads) as Stable Diffusion pipelines call it:
/// `padding="max_length", max_length=77, truncation=True`.
///
/// Text is NFC-normalized, every whitespace run becomes one space, and each character is
/// lowercased on its own (so a final capital sigma becomes `σ`, as in `tokenizers`). It is then cut
/// with CLIP's pattern (`<|startoftext|>`, `<|endoftext|>`, the contractions `'s 't 're 've 'm 'll
/// 'd`, letter runs, single digits, runs of anything else that is not whitespace); each piece's
/// UTF-8 bytes map to GPT-2's byte alphabet, the last one marked with `</w>`, and BPE merges them
/// by rank. Special tokens in the prompt are honoured as the checkpoints register them: the exact
/// `<|endoftext|>`, `<|startoftext|>` in any case, and, for OpenCLIP's convention, `!`.
public struct CLIPTokenizer: Sendable {
    /// How a checkpoint pads its 77 tokens.
    public enum Padding: Sendable, Equatable {
        /// `<|endoftext|>` (49407): Stable Diffusion 1.x and SDXL's first tokenizer.
        case endOfText
        /// `!` (0): Stable Diffusion 2.x and SDXL's `tokenizer_2` (OpenCLIP), whose checkpoints
        /// also register `!` as a special token, so a `!` in a prompt becomes 0 too.
        case exclamation
    }

    /// Tokens per prompt, `<|startoftext|>` and `<|endoftext|>` included.
    public static let contextLength = 77
    /// `<|startoftext|>`.
    public static let startID: Int32 = 49406
    /// `<|endoftext|>`.
    public static let endID: Int32 = 49407

    /// The padding convention.
    public let padding: Padding
    /// Merge rank and merged token id by the two ids merged (`first << 32 | second`).
    private let merges: [UInt64: (rank: Int32, id: Int32)]
    /// Token id of each byte, and of each byte ending a word (`</w>`).
    private let byteIDs: [Int32]
    private let finalByteIDs: [Int32]

    /// The id used for padding.
    public var padID: Int32 { padding == .endOfText ? Self.endID : 0 }

    /// Builds a tokenizer from a vocabulary and its ranked merges.
    /// - Parameters:
    ///   - vocabulary: token (in GPT-2's byte alphabet) to id, as in `vocab.json`.
    ///   - merges: merge pairs in rank order, as in `merges.txt`.
    ///   - padding: the checkpoint's padding convention.
    /// - Throws: `ModelError(.weightsInvalid)` when a byte, a merge result or a special token is
    ///   missing from the vocabulary.
    public init(vocabulary: [String: Int32], merges: [(String, String)], padding: Padding) throws {
        self.padding = padding
        let alphabet = Self.byteAlphabet
        var byteIDs = [Int32](), finalByteIDs = [Int32]()
        for symbol in alphabet {
            guard let id = vocabulary[symbol], let finalID = vocabulary[symbol + "</w>"] else {
                throw ModelError(.weightsInvalid, "CLIP vocabulary lacks the byte token \(symbol)")
            }
            byteIDs.append(id)
            finalByteIDs.append(finalID)
        }
        self.byteIDs = byteIDs
        self.finalByteIDs = finalByteIDs
        var table = [UInt64: (rank: Int32, id: Int32)](minimumCapacity: merges.count)
        for (rank, (first, second)) in merges.enumerated() {
            guard let a = vocabulary[first], let b = vocabulary[second], let merged = vocabulary[first + second] else {
                throw ModelError(.weightsInvalid, "CLIP merge \(rank) (\(first) \(second)) names a token the vocabulary lacks")
            }
            let key = UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))
            if table[key] == nil { table[key] = (Int32(rank), merged) }
        }
        self.merges = table
        for (token, id) in [("<|startoftext|>", Self.startID), ("<|endoftext|>", Self.endID)] where vocabulary[token] != id {
            throw ModelError(.weightsInvalid, "CLIP vocabulary maps \(token) to \(vocabulary[token].map(String.init) ?? "nothing"), expected \(id)")
        }
        if padding == .exclamation, vocabulary["!"] != 0 {
            throw ModelError(.weightsInvalid, "CLIP vocabulary does not map ! to 0")
        }
    }

    /// Builds the tokenizer from OpenAI's merge list (`bpe_simple_vocab_16e6.txt`, shipped
    /// gzipped by `open_clip_torch`), deriving the vocabulary as open_clip's SimpleTokenizer does:
    /// the 256 byte symbols, the same with `</w>`, one token per merge (the first 48,894), then
    /// `<|startoftext|>` and `<|endoftext|>`.
    /// - Throws: `ModelError(.weightsInvalid)` when the list is short or malformed.
    public init(openAIMerges text: String, padding: Padding) throws {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let count = 49152 - 256 - 2
        guard lines.count > count else {
            throw ModelError(.weightsInvalid, "CLIP merge list has \(lines.count) lines, expected more than \(count)")
        }
        var merges = [(String, String)]()
        merges.reserveCapacity(count)
        for line in lines[1...count] {
            let parts = line.split(separator: " ")
            guard parts.count == 2 else { throw ModelError(.weightsInvalid, "CLIP merge line \"\(line)\" is not two symbols") }
            merges.append((String(parts[0]), String(parts[1])))
        }
        var tokens = Self.byteSymbolsInVocabularyOrder
        tokens += Self.byteSymbolsInVocabularyOrder.map { $0 + "</w>" }
        tokens += merges.map { $0.0 + $0.1 }
        tokens += ["<|startoftext|>", "<|endoftext|>"]
        var vocabulary = [String: Int32](minimumCapacity: tokens.count)
        for (id, token) in tokens.enumerated() where vocabulary[token] == nil { vocabulary[token] = Int32(id) }
        try self.init(vocabulary: vocabulary, merges: merges, padding: padding)
    }

    /// Loads the gzipped merge list `open_clip_torch` ships (`bpe_simple_vocab_16e6.txt.gz`).
    /// - Throws: `ModelError(.weightsInvalid)` when the file is not gzip or not a merge list.
    public init(openAIMergesGzip url: URL, padding: Padding) throws {
        let data = try Gunzip.decompress(Data(contentsOf: url))
        guard let text = String(data: data, encoding: .utf8) else {
            throw ModelError(.weightsInvalid, "\(url.lastPathComponent) is not UTF-8")
        }
        try self.init(openAIMerges: text, padding: padding)
    }

    /// Loads a diffusers `tokenizer/` (or `tokenizer_2/`) folder: `vocab.json`, `merges.txt`, and
    /// the padding token from `tokenizer_config.json` or `special_tokens_map.json`.
    /// - Throws: `ModelError(.weightsInvalid)` naming the file that is missing or malformed.
    public init(folder: URL) throws {
        func read(_ name: String) throws -> Data {
            do { return try Data(contentsOf: folder.appendingPathComponent(name)) } catch {
                throw ModelError(.weightsInvalid, "tokenizer folder \(folder.path) has no readable \(name)")
            }
        }
        guard let vocabulary = try? JSONDecoder().decode([String: Int32].self, from: read("vocab.json")) else {
            throw ModelError(.weightsInvalid, "\(folder.lastPathComponent)/vocab.json is not a token-to-id map")
        }
        guard let text = String(data: try read("merges.txt"), encoding: .utf8) else {
            throw ModelError(.weightsInvalid, "\(folder.lastPathComponent)/merges.txt is not UTF-8")
        }
        var merges = [(String, String)]()
        for line in text.split(separator: "\n") where !line.hasPrefix("#version") {
            let parts = line.split(separator: " ")
            guard parts.count == 2 else {
                throw ModelError(.weightsInvalid, "\(folder.lastPathComponent)/merges.txt line \"\(line)\" is not two symbols")
            }
            merges.append((String(parts[0]), String(parts[1])))
        }
        var pad = "<|endoftext|>"
        for name in ["tokenizer_config.json", "special_tokens_map.json"] {
            guard let data = try? Data(contentsOf: folder.appendingPathComponent(name)),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { continue }
            if let value = object["pad_token"] as? String {
                pad = value
                break
            }
            if let value = (object["pad_token"] as? [String: Any])?["content"] as? String {
                pad = value
                break
            }
        }
        let padding: Padding
        switch pad {
        case "<|endoftext|>": padding = .endOfText
        case "!": padding = .exclamation
        default: throw ModelError(.weightsInvalid, "tokenizer pads with \"\(pad)\"; only <|endoftext|> and ! are known")
        }
        try self.init(vocabulary: vocabulary, merges: merges, padding: padding)
    }

    /// The 77 ids diffusers feeds the text encoder: start, the prompt's tokens (cut to 75), end, padding.
    public func callAsFunction(_ prompt: String) -> [Int32] {
        var ids = encode(prompt)
        ids += repeatElement(padID, count: Self.contextLength - ids.count)
        return ids
    }

    /// Start, the prompt's tokens cut to 75, end: the ids without padding (the attention mask's length).
    public func encode(_ prompt: String) -> [Int32] {
        var ids: [Int32] = [Self.startID]
        ids += tokens(prompt, limit: Self.contextLength - 2)
        ids.append(Self.endID)
        return ids
    }

    /// The prompt's tokens with no start, end or padding, stopping once `limit` are made (the
    /// rest would be cut anyway; prompt length itself is bounded where requests are parsed).
    public func tokens(_ prompt: String, limit: Int = .max) -> [Int32] {
        var ids = [Int32]()
        // Special tokens matched in the raw text (`normalized: false` in the checkpoints).
        let raw: [(String, Int32)] = padding == .exclamation ? [("<|endoftext|>", Self.endID), ("!", 0)] : [("<|endoftext|>", Self.endID)]
        for segment in Self.split(Array(prompt.unicodeScalars), on: raw) where ids.count < limit {
            switch segment {
            case .special(let id): ids.append(id)
            case .text(let scalars):
                let normalized = Self.normalize(scalars)
                // `<|startoftext|>` is registered as normalized, so it matches after lowercasing.
                for piece in Self.split(normalized, on: [("<|startoftext|>", Self.startID)]) where ids.count < limit {
                    switch piece {
                    case .special(let id): ids.append(id)
                    case .text(let text):
                        for word in Self.words(text) where ids.count < limit { bpe(word, into: &ids) }
                    }
                }
            }
        }
        // The last word may have run past the limit.
        return Array(ids.prefix(max(0, limit)))
    }

    // MARK: Normalization and pre-tokenization

    enum Segment: Equatable {
        case text([Unicode.Scalar])
        case special(Int32)
    }

    /// Cuts out the special tokens, leftmost first and longest at a position.
    static func split(_ scalars: [Unicode.Scalar], on specials: [(String, Int32)]) -> [Segment] {
        let patterns = specials.map { (Array($0.0.unicodeScalars), $0.1) }.sorted { $0.0.count > $1.0.count }
        var segments = [Segment]()
        var start = 0, i = 0
        while i < scalars.count {
            if let (pattern, id) = patterns.first(where: { i + $0.0.count <= scalars.count && scalars[i..<i + $0.0.count].elementsEqual($0.0) }) {
                if start < i { segments.append(.text(Array(scalars[start..<i]))) }
                segments.append(.special(id))
                i += pattern.count
                start = i
            } else {
                i += 1
            }
        }
        if start < scalars.count { segments.append(.text(Array(scalars[start..<scalars.count]))) }
        return segments
    }

    /// NFC, whitespace runs to one space, each character lowercased alone.
    static func normalize(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var string = String.UnicodeScalarView()
        string.append(contentsOf: scalars)
        let composed = String(string).precomposedStringWithCanonicalMapping
        var out = [Unicode.Scalar]()
        var inSpace = false
        for scalar in composed.unicodeScalars {
            if scalar.properties.isWhitespace {
                if !inSpace { out.append(" ") }
                inSpace = true
                continue
            }
            inSpace = false
            out.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
        }
        return out
    }

    static func isLetter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    static func isNumber(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    private static let wordSpecials: [[Unicode.Scalar]] = ["<|startoftext|>", "<|endoftext|>"].map { Array($0.unicodeScalars) }
    private static let contractions: [[Unicode.Scalar]] = ["s", "t", "re", "ve", "m", "ll", "d"].map { Array($0.unicodeScalars) }

    /// CLIP's pattern: `<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`,
    /// then GPT-2's pattern inside each piece (`tokenizers`' ByteLevel stage), which only ever
    /// re-cuts the two special-name pieces.
    static func words(_ s: [Unicode.Scalar]) -> [[Unicode.Scalar]] {
        var words = [[Unicode.Scalar]]()
        var i = 0
        func matches(_ pattern: [Unicode.Scalar], at position: Int) -> Bool {
            position + pattern.count <= s.count && s[position..<position + pattern.count].elementsEqual(pattern)
        }
        while i < s.count {
            let c = s[i]
            if c.properties.isWhitespace { i += 1; continue }
            if let special = wordSpecials.first(where: { matches($0, at: i) }) {
                // The byte-level stage re-cuts the piece with GPT-2's pattern: `<|`, the name, `|>`.
                words.append(Array(special[0..<2]))
                words.append(Array(special[2..<special.count - 2]))
                words.append(Array(special[(special.count - 2)...]))
                i += special.count
                continue
            }
            if c == "'", let tail = contractions.first(where: { matches($0, at: i + 1) }) {
                words.append(Array(s[i...i + tail.count]))
                i += tail.count + 1
                continue
            }
            var j = i + 1
            if isLetter(c) {
                while j < s.count, isLetter(s[j]) { j += 1 }
            } else if !isNumber(c) {
                while j < s.count, !s[j].properties.isWhitespace, !isLetter(s[j]), !isNumber(s[j]) { j += 1 }
            }
            words.append(Array(s[i..<j]))
            i = j
        }
        return words
    }

    // MARK: BPE

    /// GPT-2's byte-to-symbol table as (byte, symbol) in the order the vocabulary lists them:
    /// printable bytes stand for themselves, the others get the code points from 256 on.
    private static let byteTable: [(byte: Int, symbol: String)] = {
        var bytes = Array(33...126) + Array(161...172) + Array(174...255)
        var codes = bytes
        var next = 256
        for byte in 0..<256 where !bytes.contains(byte) {
            bytes.append(byte)
            codes.append(next)
            next += 1
        }
        return zip(bytes, codes).map { ($0, String(Unicode.Scalar(UInt32($1))!)) }
    }()

    /// The symbol of each byte value, indexed by the byte.
    static let byteAlphabet: [String] = {
        var alphabet = [String](repeating: "", count: 256)
        for entry in byteTable { alphabet[entry.byte] = entry.symbol }
        return alphabet
    }()

    /// The 256 byte symbols in vocabulary order (ids 0-255 of CLIP's vocabulary).
    static let byteSymbolsInVocabularyOrder: [String] = byteTable.map(\.symbol)

    /// Merges one word's bytes by rank: the lowest-ranked adjacent pair, every occurrence left to right, until none is known.
    private func bpe(_ word: [Unicode.Scalar], into ids: inout [Int32]) {
        var string = String.UnicodeScalarView()
        string.append(contentsOf: word)
        let bytes = Array(String(string).utf8)
        var symbols = bytes.enumerated().map { $0.offset == bytes.count - 1 ? finalByteIDs[Int($0.element)] : byteIDs[Int($0.element)] }
        while symbols.count > 1 {
            var best: (rank: Int32, id: Int32)?
            var bestPair: UInt64 = 0
            for k in 0..<symbols.count - 1 {
                let key = UInt64(UInt32(bitPattern: symbols[k])) << 32 | UInt64(UInt32(bitPattern: symbols[k + 1]))
                if let merge = merges[key], best == nil || merge.rank < best!.rank {
                    best = merge
                    bestPair = key
                }
            }
            guard let merge = best else { break }
            var merged = [Int32]()
            merged.reserveCapacity(symbols.count)
            var k = 0
            while k < symbols.count {
                if k + 1 < symbols.count,
                   UInt64(UInt32(bitPattern: symbols[k])) << 32 | UInt64(UInt32(bitPattern: symbols[k + 1])) == bestPair {
                    merged.append(merge.id)
                    k += 2
                } else {
                    merged.append(symbols[k])
                    k += 1
                }
            }
            symbols = merged
        }
        ids += symbols
    }
}
