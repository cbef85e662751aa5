/// One network an upscaler can run: its files and how the upstream tool tiles and pads it.
struct UpscalerVariant: Sendable, Hashable {
    /// `.param` path relative to the model directory.
    var param: String
    /// Input blob name.
    var inputBlob: String
    /// Output blob name.
    var outputBlob: String
    /// Output pixels per input pixel.
    var scale: Int
    /// Context pixels around each tile (the upstream tool's `prepadding`).
    var context: Int
    /// Input extents must be multiples of this (waifu2x's pooling levels).
    var alignment: Int
    /// Whether the network uses valid convolutions (its output shrinks by the context).
    var shrinksByContext: Bool
    /// Replicated border around the image for zero-padded networks (the tool's prepadding).
    var borderPad: Int = 0

    /// `.bin` path relative to the model directory.
    var bin: String { String(param.dropLast(".param".count)) + ".bin" }
}
