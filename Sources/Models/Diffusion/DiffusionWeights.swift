import Foundation
import ModelFormats
import Tensor

/// The named tensors of one model component (a UNet, a text encoder, an autoencoder), whatever
/// file layout they came from: diffusers' per-component safetensors, an original single-file
/// checkpoint seen through a key map, or tensors held in memory. Tensors are decoded to f32 only
/// when a builder asks for them; F16 and BF16 files widen exactly.
///
/// Errors name the component, the tensor and, for a mismatch, both shapes.
public struct DiffusionWeights: Sendable {
    /// Produces one tensor on demand.
    public typealias Loader = @Sendable () throws -> Tensor

    /// What the weights belong to, for messages (`"unet"`, `"vae"`, a file name).
    public let component: String
    private let loaders: [String: Loader]
    private let shapes: [String: [Int]]
    private let prefix: String
    /// Makes up tensors no file holds (``synthesized(component:)``).
    private var synthesize: (@Sendable (String, [Int]) -> Tensor)?

    /// Weights held in memory.
    public init(component: String, tensors: [String: Tensor]) {
        self.component = component
        var loaders: [String: Loader] = [:]
        var shapes: [String: [Int]] = [:]
        for (name, tensor) in tensors {
            loaders[name] = { tensor }
            shapes[name] = tensor.shape.dims
        }
        self.loaders = loaders
        self.shapes = shapes
        prefix = ""
    }

    /// Weights from memory-mapped safetensors files (a component may be sharded over several).
    /// - Throws: `ModelFormatError` `.malformed` when two files hold the same name.
    public init(component: String, files: [SafetensorsFile]) throws {
        self.component = component
        var loaders: [String: Loader] = [:]
        var shapes: [String: [Int]] = [:]
        for file in files {
            for (name, entry) in file.entries {
                guard loaders[name] == nil else {
                    throw ModelFormatError(.malformed, "\(component): tensor \(name) appears in more than one file")
                }
                loaders[name] = { try file.tensor(named: name) }
                shapes[name] = entry.shape
            }
        }
        self.loaders = loaders
        self.shapes = shapes
        prefix = ""
    }

    /// Weights under other names: each entry of `map` names a tensor of `source` (its full name)
    /// and how to derive this store's tensor from it. Names `source` lacks are left out, so
    /// lookups report them as missing under their new name.
    public init(component: String, source: DiffusionWeights, map: [String: (name: String, transform: Transform)]) {
        self.component = component
        var loaders: [String: Loader] = [:]
        var shapes: [String: [Int]] = [:]
        for (name, target) in map {
            guard let loader = source.loaders[target.name], let shape = source.shapes[target.name],
                  let derived = target.transform.shape(of: shape) else { continue }
            let transform = target.transform
            loaders[name] = { try transform.apply(to: loader()) }
            shapes[name] = derived
        }
        self.loaders = loaders
        self.shapes = shapes
        prefix = ""
    }

    private init(component: String, loaders: [String: Loader], shapes: [String: [Int]], prefix: String,
                 synthesize: (@Sendable (String, [Int]) -> Tensor)?) {
        self.component = component
        self.loaders = loaders
        self.shapes = shapes
        self.prefix = prefix
        self.synthesize = synthesize
    }

    /// Weights made up on demand in whatever shape a builder asks for: uniform with variance
    /// 1/fan-in for matrices and kernels, ones for norm scales, zeros for biases. Benchmarks
    /// build full-size architectures from these, since speed does not depend on weight values.
    public static func synthesized(component: String) -> DiffusionWeights {
        DiffusionWeights(component: component, loaders: [:], shapes: [:], prefix: "", synthesize: { name, shape in
            if shape.count <= 1 { return Tensor(shape: Shape(shape), repeating: name.hasSuffix(".weight") ? 1 : 0) }
            let fanIn = max(1, shape.dropFirst().reduce(1, *))
            var seed: UInt64 = 0xCBF2_9CE4_8422_2325
            for byte in name.utf8 { seed = (seed ^ UInt64(byte)) &* 0x100_0000_01B3 }
            return Tensor(uniform: Shape(shape), bound: (3 / Float(fanIn)).squareRoot(), seed: seed)
        })
    }

    /// How a mapped tensor derives from its source.
    public enum Transform: Sendable, Hashable {
        /// Unchanged.
        case identity
        /// Rows `part * n ..< (part + 1) * n` of a tensor whose first extent is `parts * n`
        /// (one of the query, key and value projections stored fused).
        case chunk(part: Int, of: Int)
        /// The same values under another shape (a linear layer stored as a 1×1 convolution,
        /// or the reverse).
        case reshape([Int])
        /// The transpose of a matrix (OpenCLIP stores its text projection as `x @ P`, a linear
        /// layer's weight is `Pᵀ`).
        case transpose

        func shape(of source: [Int]) -> [Int]? {
            switch self {
            case .identity: return source
            case .chunk(let part, let parts):
                guard let first = source.first, parts > 0, part >= 0, part < parts, first % parts == 0 else { return nil }
                return [first / parts] + source.dropFirst()
            case .reshape(let shape):
                return shape.reduce(1, *) == source.reduce(1, *) ? shape : nil
            case .transpose:
                return source.count == 2 ? [source[1], source[0]] : nil
            }
        }

        func apply(to tensor: Tensor) throws -> Tensor {
            switch self {
            case .identity: return tensor
            case .chunk(let part, let parts):
                let dims = tensor.shape.dims
                let rows = dims[0] / parts
                let rowSize = dims.dropFirst().reduce(1, *)
                return try tensor.view(elementOffset: part * rows * rowSize, shape: Shape([rows] + dims.dropFirst())).copy()
            case .reshape(let shape):
                return try tensor.reshaped(Shape(shape))
            case .transpose:
                let dims = tensor.shape.dims
                let (rows, columns) = (dims[0], dims[1])
                let out = Tensor(uninitialized: Shape([columns, rows]))
                let src = tensor.floatPointer, dst = out.floatPointer
                for r in 0..<rows {
                    for c in 0..<columns { dst[c * rows + r] = src[r * columns + c] }
                }
                return out
            }
        }
    }

    /// The tensors under `prefix` (which ends without a dot), seen without it.
    public func scoped(_ prefix: String) -> DiffusionWeights {
        DiffusionWeights(component: component, loaders: loaders, shapes: shapes, prefix: qualified(prefix), synthesize: synthesize)
    }

    private func qualified(_ name: String) -> String { prefix.isEmpty ? name : "\(prefix).\(name)" }

    /// Whether the tensor exists.
    public func contains(_ name: String) -> Bool { loaders[qualified(name)] != nil || synthesize != nil }

    /// The tensor's shape without decoding it, if it exists.
    public func shape(_ name: String) -> [Int]? { shapes[qualified(name)] }

    /// Every full tensor name (for key-map detection and messages).
    public var names: [String] { loaders.keys.sorted() }

    /// Decodes a tensor, checking its shape when one is given.
    /// - Throws: `ModelFormatError` `.malformed` naming the tensor when it is missing or has
    ///   another shape.
    public func tensor(_ name: String, shape expected: [Int]? = nil) throws -> Tensor {
        let full = qualified(name)
        if loaders[full] == nil, let synthesize, let expected { return synthesize(full, expected) }
        guard let loader = loaders[full], let shape = shapes[full] else {
            throw ModelFormatError(.malformed, "\(component): missing tensor \(full)")
        }
        if let expected, expected != shape {
            throw ModelFormatError(.malformed, "\(component): tensor \(full) has shape \(shape), expected \(expected)")
        }
        return try loader()
    }

    /// ``tensor(_:shape:)`` when present, nil when absent.
    public func optionalTensor(_ name: String, shape expected: [Int]? = nil) throws -> Tensor? {
        contains(name) ? try tensor(name, shape: expected) : nil
    }
}
