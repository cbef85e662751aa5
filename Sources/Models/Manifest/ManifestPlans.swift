import Foundation
import ModelFormats

/// Plans of one graph by input shapes. A plan specializes the graph to concrete shapes (shape
/// inference, constant folding, packed weights), so image models whose size varies per request
/// keep the few most recent sizes rather than planning every call.
final class ManifestPlans: @unchecked Sendable {
    // @unchecked: every access to `cache` and `order` holds `lock`; plans are immutable values.
    private let model: ONNXModel
    private let capacity: Int
    private let lock = NSLock()
    private var cache: [[String: [Int]]: ONNXPlan] = [:]
    private var order: [[String: [Int]]] = []

    init(model: ONNXModel, capacity: Int = 4) {
        self.model = model
        self.capacity = capacity
    }

    /// The plan for these input shapes, made on first use.
    /// - Throws: ``ModelFormatError`` naming the node and op whose inputs do not fit.
    func plan(for shapes: [String: [Int]]) throws -> ONNXPlan {
        if let hit = lock.withLock({ cache[shapes] }) { return hit }
        // Planning can take a while; do it outside the lock (two racing requests both plan).
        let plan = try model.plan(inputShapes: shapes)
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
