import Kernels
import Tensor

/// Where each intermediate value lives during one run.
///
/// Two ways of saving memory traffic and footprint:
/// - **Concatenation in place.** The inputs of a channel concatenation are written by their
///   producers straight into the concatenation's buffer (at their channel offsets), so the
///   concat itself copies nothing. A smaller concatenation whose inputs already sit side by side
///   in a larger one becomes a view of it (dense blocks concatenate growing prefixes).
/// - **Buffer sharing.** Buffers ("slots") are shared by values whose lifetimes do not overlap;
///   a lifetime runs from the first write into a buffer to the last read of anything in it.
///
/// - **Reshapes as views.** A reshape's output is its input's buffer under another shape.
///
/// Graph inputs are the caller's tensors, constants are the graph's own and graph outputs get
/// their own buffers (the caller keeps them), so none of them takes part.
public struct MemoryPlan: Sendable {
    /// A value stored inside another value's buffer.
    public struct Placement: Sendable, Equatable {
        /// The value whose buffer holds it.
        public var parent: ValueID
        /// Element offset in the parent.
        public var elementOffset: Int
    }

    /// The slot of each value that owns a buffer (nil: placed, external or unused).
    public var slotOf: [Int?]
    /// Values stored inside another value's buffer.
    public var placement: [Placement?]
    /// Each slot's size in floats (the largest value it ever holds).
    public var slotSizes: [Int]
    /// Indices of nodes that need no work: concatenations assembled in place, reshapes viewing
    /// their input.
    public var assembledNodes: Set<Int>

    /// Total floats of all slots.
    public var totalFloats: Int { slotSizes.reduce(0, +) }

    /// The value owning the buffer a value lives in, and the element offset there.
    public func root(of v: ValueID) -> (ValueID, Int) {
        var v = v, offset = 0
        while let p = placement[v.index] {
            offset += p.elementOffset
            v = p.parent
        }
        return (v, offset)
    }

    /// Plans the graph's buffers for known shapes.
    /// - Parameters:
    ///   - graph: nodes in execution order.
    ///   - shapes: every value's shape (from ``Graph/inferShapes(_:)``).
    ///   - inPlaceConcat: whether to assemble concatenations in place.
    public init(graph: Graph, shapes: [Shape?], inPlaceConcat: Bool = true) {
        let n = graph.valueNames.count
        let external = Set(graph.inputs).union(graph.outputs).union(graph.constants.keys)
        var producer = [Int?](repeating: nil, count: n)
        var lastUse = [Int](repeating: -1, count: n)
        for (i, node) in graph.nodes.enumerated() {
            producer[node.output.index] = i
            for v in node.inputs { lastUse[v.index] = i }
        }
        var placement = [Placement?](repeating: nil, count: n)
        var assembledNodes = Set<Int>()
        var hosts = Set<ValueID>()
        if inPlaceConcat {
            let concats = graph.nodes.indices.filter {
                if case .concat = graph.nodes[$0].op { return shapes[graph.nodes[$0].output.index]?.n == 1 }
                return false
            }
            // Largest first, so that the prefixes of a dense block become views of the full one.
            for i in concats.sorted(by: { (shapes[graph.nodes[$0].output.index]!.c, $0) > (shapes[graph.nodes[$1].output.index]!.c, $1) }) {
                let node = graph.nodes[i]
                let out = node.output
                guard !external.contains(out), placement[out.index] == nil, !hosts.contains(out) else { continue }
                let plane = shapes[out.index]!.h * shapes[out.index]!.w
                var offsets: [Int] = []
                var acc = 0
                for v in node.inputs { offsets.append(acc * plane); acc += shapes[v.index]!.c }
                let placeable = Set(node.inputs).count == node.inputs.count && node.inputs.allSatisfy { v in
                    !external.contains(v) && placement[v.index] == nil && !hosts.contains(v) && producer[v.index] != nil
                }
                if placeable {
                    for (v, off) in zip(node.inputs, offsets) { placement[v.index] = Placement(parent: out, elementOffset: off) }
                    hosts.insert(out)
                    assembledNodes.insert(i)
                    continue
                }
                // A view: every input already sits, in order and adjacent, in one parent.
                if let first = placement[node.inputs[0].index],
                   node.inputs.enumerated().allSatisfy({ k, v in placement[v.index] == Placement(parent: first.parent, elementOffset: first.elementOffset + offsets[k]) }) {
                    placement[out.index] = first
                    assembledNodes.insert(i)
                }
            }
        }
        // A reshape of a computed value is a view of it (at its place, if it has one).
        for (i, node) in graph.nodes.enumerated() {
            guard case .reshape = node.op, let src = node.inputs.first, !external.contains(src), producer[src.index] != nil,
                  !external.contains(node.output), placement[node.output.index] == nil, !hosts.contains(node.output) else { continue }
            placement[node.output.index] = Placement(parent: src, elementOffset: 0)
            assembledNodes.insert(i)
        }
        // Lifetimes of buffer owners: from the first write of any member to the last read of any.
        var start = [Int](repeating: Int.max, count: n)
        var end = [Int](repeating: -1, count: n)
        let finalPlacement = placement
        func rootIndex(_ v: Int) -> Int {
            var v = v
            while let p = finalPlacement[v] { v = p.parent.index }
            return v
        }
        for v in 0..<n {
            guard let def = producer[v] else { continue }
            let r = rootIndex(v)
            start[r] = min(start[r], def)
            end[r] = max(end[r], max(lastUse[v], def))
        }
        var slotOf = [Int?](repeating: nil, count: n)
        var slotSizes: [Int] = []
        var free: [Int] = []
        var startingAt = [[Int]](repeating: [], count: graph.nodes.count)
        var endingAt = [[Int]](repeating: [], count: graph.nodes.count)
        for v in 0..<n where placement[v] == nil && start[v] != Int.max && !external.contains(ValueID(v)) {
            startingAt[start[v]].append(v)
            endingAt[end[v]].append(v)
        }
        let finalHosts = hosts
        let isSimple = { (v: Int) -> Bool in !finalHosts.contains(ValueID(v)) && finalPlacement[v] == nil }
        for (i, node) in graph.nodes.enumerated() {
            for r in startingAt[i] {
                let size = shapes[r]?.count ?? 0
                // An element-wise op may overwrite its first input if nothing reads that input later.
                if r == node.output.index, isSimple(r), node.op.isElementwiseInPlace, let first = node.inputs.first,
                   isSimple(first.index), let s = slotOf[first.index], end[first.index] == i,
                   node.inputs.dropFirst().allSatisfy({ rootIndex($0.index) != first.index }), shapes[first.index]?.count == size {
                    slotOf[r] = s
                    end[first.index] = -1
                } else {
                    slotOf[r] = Self.take(size, free: &free, sizes: &slotSizes)
                }
            }
            // Release buffers whose last reader is this node (after the output is placed, so an
            // op never writes into a buffer it still reads, except the in-place case above).
            for r in endingAt[i] where end[r] == i {
                if let s = slotOf[r] { free.append(s) }
            }
        }
        self.placement = placement
        self.assembledNodes = assembledNodes
        self.slotOf = slotOf
        self.slotSizes = slotSizes
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
