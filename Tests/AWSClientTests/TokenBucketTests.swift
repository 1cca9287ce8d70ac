import AWSClient
import TestSupport
import Testing

@Suite("token bucket")
struct TokenBucketTests {
    @Test("serves the burst at once, then one token per 1/rate seconds")
    func paces() async throws {
        let clock = ManualClock()
        let bucket = TokenBucket(rate: 4, burst: 2, clock: AWSClock(clock))
        for _ in 0..<3 { #expect(try await bucket.acquire(patience: .seconds(1))) }
        #expect(clock.sleeps == [.milliseconds(250)])
    }

    @Test("a wait longer than the patience takes nothing and does not sleep")
    func impatient() async throws {
        let clock = ManualClock()
        let bucket = TokenBucket(rate: 1, burst: 1, clock: AWSClock(clock))
        #expect(try await bucket.acquire(patience: .zero))
        #expect(try await bucket.acquire(patience: .milliseconds(999)) == false)
        #expect(clock.sleeps.isEmpty)
        #expect(try await bucket.acquire(patience: .seconds(1)))
        #expect(clock.sleeps == [.seconds(1)])
    }

    /// A rate this small makes the wait 1e300 seconds, far beyond `Int64` nanoseconds; it once trapped converting.
    @Test(
        "rates too small or not numbers refuse instead of trapping",
        arguments: [1e-300, .leastNonzeroMagnitude, 0, .nan])
    func tinyRates(rate: Double) async throws {
        let bucket = TokenBucket(rate: rate, burst: 1, clock: AWSClock(ManualClock()))
        #expect(try await bucket.acquire(patience: .seconds(3600)))
        for _ in 0..<1000 { #expect(try await bucket.acquire(patience: .seconds(Int64.max)) == false) }
    }
}
