import Foundation
import Graph
import Platform
import Server
import Testing

@testable import peregrine

@Suite("PEREGRINE_PRECISION")
struct EnginePrecisionsTests {
    @Test("one precision for all, or per endpoint with a default; anything else is refused by name")
    func parsing() throws {
        #expect(try EnginePrecisions(parsing: "").for("peregrine/waifu2x") == .fp32)
        #expect(try EnginePrecisions(parsing: "bf16").for("peregrine/waifu2x") == .bf16)
        let mixed = try EnginePrecisions(parsing: " peregrine/realesr-animevideov3=bf16, peregrine/video-upscale = BF16 ")
        #expect(mixed.for("peregrine/realesr-animevideov3") == .bf16)
        #expect(mixed.for("peregrine/video-upscale") == .bf16)
        #expect(mixed.for("peregrine/waifu2x") == .fp32)
        let inverted = try EnginePrecisions(parsing: "bf16,peregrine/waifu2x=fp32")
        #expect(inverted.for("peregrine/waifu2x") == .fp32)
        #expect(inverted.for("peregrine/realesrgan-x4plus") == .bf16)
        for bad in ["fp16", "peregrine/waifu2x=int8", "=bf16"] {
            #expect(throws: ConfigurationError.self) { try EnginePrecisions(parsing: bad) }
        }
    }
}
