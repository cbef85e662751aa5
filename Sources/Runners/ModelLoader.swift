import ModelKit

/// Loads a model once, on first use, and shares the loaded instance; a failed load is retried
/// by the next caller.
actor ModelLoader {
    private let model: any Model
    private let context: LoadContext
    private var loading: Task<any LoadedModel, any Error>?

    init(model: any Model, context: LoadContext) {
        self.model = model
        self.context = context
    }

    /// Drops the loaded instance so that its memory is freed once running requests release it;
    /// the next `loaded()` loads again.
    func unload() { loading = nil }

    /// The loaded model, loading it when needed (concurrent callers share one load).
    func loaded() async throws -> any LoadedModel {
        if let loading { return try await loading.value }
        let model = self.model
        let context = self.context
        // An unstructured task so that one caller's cancellation does not abort a load that
        // other callers are waiting on; it is always awaited.
        let task = Task { try await model.load(context: context) }
        loading = task
        do {
            return try await task.value
        } catch {
            if loading == task { loading = nil }
            throw error
        }
    }
}
