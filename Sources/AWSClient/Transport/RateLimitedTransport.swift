import Synchronization

/// A token bucket: `rate` tokens a second, holding at most `burst`. Callers that find it empty reserve a token
/// ahead and wait for it, so they are served in arrival order and the long-run rate never exceeds `rate`.
public final class TokenBucket: Sendable {
    public let rate: Double
    public let burst: Int
    private let clock: AWSClock
    private let state: Mutex<(tokens: Double, updated: MonotonicInstant)>

    public init(rate: Double, burst: Int, clock: AWSClock = .continuous) {
        // A rate that is not a positive number never refills, rather than poisoning the arithmetic with NaN.
        self.rate = rate > 0 ? rate : 0
        self.burst = max(1, burst)
        self.clock = clock
        state = Mutex((Double(max(1, burst)), clock.now()))
    }

    /// Takes one token, waiting up to `patience` for it; `false` when it would come later than that (nothing is
    /// then taken).
    public func acquire(patience: Duration) async throws -> Bool {
        let wait: Duration? = state.withLock { state in
            let now = clock.now()
            let elapsed = state.updated.duration(to: now).secondsDouble
            state.tokens = min(Double(burst), state.tokens + elapsed * rate)
            state.updated = now
            let shortfall = 1 - state.tokens
            // Compared in seconds before any conversion: a tiny rate makes the wait too long for Int64 nanoseconds.
            let waitSeconds = shortfall <= 0 ? 0 : shortfall / rate
            guard waitSeconds.isFinite, waitSeconds <= patience.secondsDouble else { return nil }
            state.tokens -= 1
            return .nanoseconds(Int64(min((waitSeconds * 1e9).rounded(.up), 9e18)))
        }
        guard let wait else { return false }
        if wait > .zero { try await clock.sleep(for: wait) }
        return true
    }
}

/// Sends through `base` at most as fast as `bucket` allows; a request that could not get a token within its timeout
/// fails as ``AWSTransportError/paced`` without being sent (not a request, and not retried).
public struct RateLimitedTransport: AWSHTTPTransport {
    public let base: any AWSHTTPTransport
    public let bucket: TokenBucket
    private let clock: AWSClock

    public init(base: any AWSHTTPTransport, bucket: TokenBucket, clock: AWSClock = .continuous) {
        self.base = base
        self.bucket = bucket
        self.clock = clock
    }

    public func send(_ request: AWSHTTPRequest, timeout: Duration) async throws -> AWSHTTPResponse {
        let started = clock.now()
        do {
            guard try await bucket.acquire(patience: timeout) else { throw AWSTransportError.paced }
        } catch is CancellationError {
            throw AWSTransportError.timeout
        }
        let remaining = timeout - started.duration(to: clock.now())
        guard remaining > .zero else { throw AWSTransportError.paced }
        return try await base.send(request, timeout: remaining)
    }
}
