/// A point in time on a ``MonotonicClock``: an offset from the clock's own origin.
public struct MonotonicInstant: Sendable, Comparable, Hashable {
    public let offset: Duration

    public init(offset: Duration) { self.offset = offset }

    public func advanced(by duration: Duration) -> MonotonicInstant {
        MonotonicInstant(offset: offset + duration)
    }

    public func duration(to other: MonotonicInstant) -> Duration { other.offset - offset }

    public static func < (lhs: MonotonicInstant, rhs: MonotonicInstant) -> Bool { lhs.offset < rhs.offset }
}

/// Elapsed time and sleeping for deadlines and backoff, wrapping any `Clock` so tests inject one that never waits.
public struct MonotonicClock: Sendable {
    private let readNow: @Sendable () -> Duration
    private let sleepFor: @Sendable (Duration) async throws -> Void

    public init<C: Clock>(_ clock: C) where C.Duration == Duration {
        let origin = clock.now
        readNow = { origin.duration(to: clock.now) }
        sleepFor = { try await clock.sleep(for: $0) }
    }

    /// The real clock: `ContinuousClock`, which keeps counting while the machine sleeps.
    public static var continuous: MonotonicClock { MonotonicClock(ContinuousClock()) }

    public func now() -> MonotonicInstant { MonotonicInstant(offset: readNow()) }

    public func sleep(for duration: Duration) async throws { try await sleepFor(duration) }
}

extension Duration {
    /// Whole nanoseconds, saturating, for APIs that take integers.
    package var clampedNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return product + attoseconds / 1_000_000_000
    }

    /// Seconds as a floating-point number, for metrics.
    package var secondsDouble: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
