import Foundation

/// When a queued request is expected to start and finish, from its model's mean inference time,
/// its place in the queue, the model's concurrency and the runs in progress.
///
/// The model: `concurrency` slots; a running request frees its slot one mean after it started
/// (one more mean each time it overruns, so an overdue slot's forecast stays put between polls
/// instead of sliding with the clock); each request ahead takes the slot that frees first and
/// holds it one mean. Since every slot frees within one mean from now, the slots take the
/// requests ahead in turn, so the request at `position` starts at the free time of slot
/// `position % concurrency` plus `position / concurrency` means.
///
/// Model loading, other models sharing the cores and priorities arriving later are not modelled:
/// it is a forecast, not a promise.
public struct StartForecast: Sendable, Equatable {
    /// Predicted start.
    public var start: Date
    /// Predicted finish (start plus one mean).
    public var finish: Date

    /// - Parameters:
    ///   - start: predicted start.
    ///   - finish: predicted finish.
    public init(start: Date, finish: Date) {
        self.start = start
        self.finish = finish
    }

    /// The forecast for the request at `position` (0 = next).
    /// - Parameters:
    ///   - position: queued requests ahead of it (negative reads as 0).
    ///   - concurrency: requests the model runs at once (at least 1 is assumed).
    ///   - runningStarts: when each running request started.
    ///   - mean: mean inference time in seconds (`nil`, negative or not finite: no forecast).
    ///   - now: the current time.
    /// - Returns: the forecast, or `nil` without a usable mean.
    public static func predict(position: Int, concurrency: Int, runningStarts: [Date], mean: Double?, now: Date) -> StartForecast? {
        guard let mean, mean.isFinite, mean >= 0 else { return nil }
        let slots = max(1, concurrency)
        var free = runningStarts.map { freeTime(started: $0, mean: mean, now: now) }.sorted().prefix(slots).map { $0 }
        while free.count < slots { free.insert(now, at: 0) }
        free.sort()
        let ahead = max(0, position)
        let start = free[ahead % slots].addingTimeInterval(Double(ahead / slots) * mean)
        return StartForecast(start: start, finish: start.addingTimeInterval(mean))
    }

    /// The forecast finish of a request running since `started`.
    public static func finish(started: Date, mean: Double?, now: Date) -> Date? {
        guard let mean, mean.isFinite, mean >= 0 else { return nil }
        return freeTime(started: started, mean: mean, now: now)
    }

    /// One mean after `started`, or the first whole number of means after it that is not past.
    static func freeTime(started: Date, mean: Double, now: Date) -> Date {
        let elapsed = now.timeIntervalSince(started)
        guard mean > 0, elapsed > mean else { return max(now, started.addingTimeInterval(mean)) }
        let periods = (elapsed / mean).rounded(.up)
        return started.addingTimeInterval(periods * mean)
    }
}
