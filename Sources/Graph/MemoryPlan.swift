import Kernels
import Tensor

/// Where each intermediate value lives during one run: values share buffers ("slots") when
/// their lifetimes do not overlap, so a deep network needs only a few feature maps of memory.
///
/// Lifetimes come from the node order: a value is live from the node that writes it to the last
/// node that reads it. Graph inputs are the caller's tensors and graph outputs get their own
/// buffers (the caller keeps them), so neither takes part in sharing.
public struct MemoryPlan: Sendable {
    /// The slot of each value (nil: a graph input, a graph output or an unused value).
    public var slotOf: [Int?]
    /// Each slot's size in floats (the largest value it ever holds).
    public var slotSizes: [Int]

    /// Total floats of all slots.
    public var totalFloats: Int { slotSizes.reduce(0, +) }

    /// Plans the graph's buffers for known shapes.
    /// - Parameters:
    ///   - graph: nodes in execution order.
    ///   - shapes: every value's shape (from ``Graph/inferShapes(_:)``).
    public init(graph: Graph, shapes: [Shape?]) {
        let n = graph.valueNames.count
        var lastUse = [Int](repeating: -1, count: n)
        for (i, node) in graph.nodes.enumerated() { for v in node.inputs { lastUse[v.index] = i } }
        let external = Set(graph.inputs).union(graph.outputs)
        slotOf = [Int?](repeating: nil, count: n)
        slotSizes = []
        var free: [Int] = []
        for (i, node) in graph.nodes.enumerated() {
            let out = node.output
            let size = shapes[out.index]?.count ?? 0
            if !external.contains(out) {
                // An element-wise op may overwrite its first input if this node is its last reader.
                if node.op.isElementwiseInPlace, let first = node.inputs.first, first != out,
                   let s = slotOf[first.index], lastUse[first.index] == i,
                   node.inputs.dropFirst().allSatisfy({ $0 != first }),
                   shapes[first.index]?.count == size {
                    slotOf[out.index] = s
                } else {
                    slotOf[out.index] = Self.take(size, free: &free, sizes: &slotSizes)
                }
            }
            // Release inputs whose last reader is this node (after choosing the output, so an
            // op never writes into a buffer it is still reading, except the in-place case above).
            for v in Set(node.inputs) where lastUse[v.index] == i {
                if let s = slotOf[v.index], s != slotOf[out.index] { free.append(s) }
            }
            // A value nobody reads is released at once.
            if lastUse[out.index] < 0, !external.contains(out), let s = slotOf[out.index] { free.append(s) }
        }
    }

    /// Best fit: the smallest free slot that holds `size`, else the largest free slot grown,
    /// else a new slot.
    private static func take(_ size: Int, free: inout [Int], sizes: inout [Int]) -> Int {
        if let best = free.enumerated().filter({ sizes[$0.element] >= size }).min(by: { sizes[$0.element] < sizes[$1.element] }) {
            free.remove(at: best.offset)
            return best.element
        }
        if let largest = free.enumerated().max(by: { sizes[$0.element] < sizes[$1.element] }) {
            free.remove(at: largest.offset)
            sizes[largest.element] = size
            return largest.element
        }
        sizes.append(size)
        return sizes.count - 1
    }
}
