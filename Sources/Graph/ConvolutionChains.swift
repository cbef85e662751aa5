import Kernels
import Tensor

/// Runs of convolutions that execute as one ``ConvolutionChain`` (bf16 activations between
/// them) instead of node by node.
struct ConvolutionChains: Sendable {
    /// One chain: it replaces nodes `first...last`, reading the first node's input and writing
    /// the last node's output.
    struct Run: Sendable {
        let first: Int
        let last: Int
        let chain: ConvolutionChain
    }

    /// Chains by their first node.
    let runs: [Int: Run]
    /// Nodes inside a chain after its first (they do not run on their own).
    let covered: Set<Int>

    /// No chains (f32 execution, or a CPU with neither AMX nor AVX512-BF16).
    init() {
        runs = [:]
        covered = []
    }

    /// Finds maximal runs of at least two consecutive convolution nodes where each node's only
    /// input is the previous node's output, that output has no other reader and is not a graph
    /// output, and every layer is accepted by ``ConvolutionChain/accepts(_:chained:)`` (no fused residual; on
    /// AVX512-BF16 that leaves out the layers fp32 runs faster with Winograd).
    init(graph: Graph, prepared: [PreparedNode]) throws {
        let consumers = graph.consumerCounts()
        let outputs = Set(graph.outputs)
        func layer(_ i: Int) -> Conv2D? {
            guard case .convolution = graph.nodes[i].op, case .convolution(let conv?, nil, _) = prepared[i].kernel,
                  graph.nodes[i].inputs.count == 1, ConvolutionChain.accepts(conv) else { return nil }
            return conv
        }
        var runs: [Int: Run] = [:]
        var covered = Set<Int>()
        var i = 0
        while i < graph.nodes.count {
            guard let head = layer(i) else {
                i += 1
                continue
            }
            var layers = [head]
            var j = i
            while j + 1 < graph.nodes.count, let next = layer(j + 1) {
                let v = graph.nodes[j].output
                guard graph.nodes[j + 1].inputs == [v], consumers[v.index] == 1, !outputs.contains(v) else { break }
                layers.append(next)
                j += 1
            }
            if j > i {
                // The layers keep only packed weights; the chain packs its own from the graph's.
                let weights = (i...j).map { k -> Tensor in
                    guard case .convolution(let c) = graph.nodes[k].op else { preconditionFailure("checked by layer(_:)") }
                    return Tensor(shape: [c.weights.count], values: c.weights)
                }
                runs[i] = Run(first: i, last: j, chain: try ConvolutionChain(layers, weights: weights))
                covered.formUnion((i + 1)...j)
            }
            i = j + 1
        }
        self.runs = runs
        self.covered = covered
    }
}
