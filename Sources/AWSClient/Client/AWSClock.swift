#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// A point in time on a ``AWSClock``: an offset from the clock's own origin.
public struct MonotonicInstant: Sendable, Comparable, Hashable {
    public let offset: Duration

    public init(offset: Duration) { self.offset = offset }

    public func advanced(by duration: Duration) -> MonotonicInstant {
        MonotonicInstant(offset: offset + duration)
    }

    public func duration(to other: MonotonicInstant) -> Duration { other.offset - offset }

    public static func < (lhs: MonotonicInstant, rhs: MonotonicInstant) -> Bool { lhs.offset < rhs.offset }
}

/// The time the AWS client (and a program built on it) reads: elapsed time for deadlines, backoff and intervals,
/// and calendar time for signatures, credential expiry and timestamps. One injected value, so a test that moves
/// time moves both, and no test waits.
public struct AWSClock: Sendable {
    private let readNow: @Sendable () -> Duration
    private let sleepFor: @Sendable (Duration) async throws -> Void
    private let readWallTime: @Sendable () -> Date

    /// Elapsed time from `clock`; calendar time from `wallTime` (the system's unless given).
    public init<C: Clock>(_ clock: C, wallTime: @escaping @Sendable () -> Date = { Date() })
    where C.Duration == Duration {
        let origin = clock.now
        readNow = { origin.duration(to: clock.now) }
        sleepFor = { try await clock.sleep(for: $0) }
        readWallTime = wallTime
    }

    /// Elapsed time from `clock`, and calendar time that starts at `wallTimeOrigin` and moves with it: a test
    /// clock that advances moves both.
    public init<C: Clock>(_ clock: C, wallTimeOrigin: Date) where C.Duration == Duration {
        let origin = clock.now
        let elapsed: @Sendable () -> Duration = { origin.duration(to: clock.now) }
        readNow = elapsed
        sleepFor = { try await clock.sleep(for: $0) }
        readWallTime = { wallTimeOrigin.addingTimeInterval(elapsed().secondsDouble) }
    }

    /// The real clocks: `ContinuousClock`, which keeps counting while the machine sleeps, and the system's calendar
    /// time, which follows NTP as signatures must.
    public static var continuous: AWSClock { AWSClock(ContinuousClock()) }

    public func now() -> MonotonicInstant { MonotonicInstant(offset: readNow()) }

    /// The calendar time now.
    public func wallTime() -> Date { readWallTime() }

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
