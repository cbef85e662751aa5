import Foundation
import Kernels
import ModelFormats

/// Graph runners of one model by input shapes. A runner specializes the graph to concrete
/// shapes (shape folding, fusions, packed weights), so image models whose size varies per
/// request keep the few most recent sizes rather than translating every call.
final class ManifestPlans: @unchecked Sendable {
    // @unchecked: every access to `cache` and `order` holds `lock`; runners are thread-safe.
    private let model: ONNXModel
    private let pool: ComputePool
    private let capacity: Int
    private let lock = NSLock()
    private var cache: [[String: [Int]]: ONNXGraphRunner] = [:]
    private var order: [[String: [Int]]] = []

    init(model: ONNXModel, pool: ComputePool, capacity: Int = 4) {
        self.model = model
        self.pool = pool
        self.capacity = capacity
    }

    /// The runner for these input shapes, made on first use.
    /// - Throws: ``ModelFormatError`` naming the node and op whose inputs do not fit.
    func plan(for shapes: [String: [Int]]) throws -> ONNXGraphRunner {
        if let hit = lock.withLock({ cache[shapes] }) { return hit }
        // Translating can take a while; do it outside the lock (two racing requests both do).
        let plan = try ONNXGraphRunner(model: model, inputShapes: shapes, pool: pool)
        lock.withLock {
            if cache[shapes] == nil {
                cache[shapes] = plan
                order.append(shapes)
                if order.count > capacity { cache[order.removeFirst()] = nil }
            }
        }
        return plan
    }
}
