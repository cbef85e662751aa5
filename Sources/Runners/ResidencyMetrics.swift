extension ResidencyStateMachine {
    /// The residency state in Prometheus's text exposition format (version 0.0.4): per model the
    /// requests waiting for residency and running, whether it is resident and with how many
    /// bytes, and its load, eviction, expiry and refusal counters; overall the resident bytes
    /// and the budget.
    public func prometheusText() -> String {
        let names = models.keys.sorted()
        var out = ""
        func family(_ name: String, _ type: String, _ help: String, _ value: (ModelState) -> Int) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for model in names { out += "\(name){model=\"\(Self.escapeLabel(model))\"} \(value(models[model]!))\n" }
        }
        family("peregrine_model_waiting_requests", "gauge", "Leased requests waiting for their model to be resident or to have a free slot.") { $0.queued }
        family("peregrine_model_running_requests", "gauge", "Requests running now.") { $0.running }
        family("peregrine_model_resident", "gauge", "1 when the model is loaded or loading.") { $0.phase == .unloaded ? 0 : 1 }
        family("peregrine_model_resident_bytes", "gauge", "Memory held by the model (measured once loaded, estimated while loading).") { $0.accountedBytes }
        family("peregrine_model_loads_total", "counter", "Loads that finished.") { $0.counters.loads }
        family("peregrine_model_load_failures_total", "counter", "Loads that failed.") { $0.counters.loadFailures }
        family("peregrine_model_evictions_total", "counter", "Unloads to make room for another model.") { $0.counters.evictions }
        family("peregrine_model_expirations_total", "counter", "Unloads after the keep-alive.") { $0.counters.expirations }
        family("peregrine_model_refused_requests_total", "counter", "Requests failed because the model cannot load here.") { $0.counters.failedRequests }
        family("peregrine_model_startup_timeouts_total", "counter", "Loads that outlasted the startup timeout.") { $0.counters.startupTimeouts }
        out += "# HELP peregrine_resident_bytes Memory held by all loaded and loading models.\n# TYPE peregrine_resident_bytes gauge\n"
        out += "peregrine_resident_bytes \(residentBytes)\n"
        out += "# HELP peregrine_memory_budget_bytes Memory all models may hold together.\n# TYPE peregrine_memory_budget_bytes gauge\n"
        out += "peregrine_memory_budget_bytes \(budget)\n"
        return out
    }

    /// Escapes a label value as the text format requires (backslash, double quote, newline).
    public static func escapeLabel(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}
