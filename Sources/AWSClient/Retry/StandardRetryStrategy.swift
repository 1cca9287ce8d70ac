import Synchronization

/// The AWS SDKs' "standard" retry mode: bounded attempts, capped exponential backoff with full jitter, and the
/// retry quota of the endpoint called, so that a failing endpoint is not hammered by every caller at once.
///
/// Throttling is retried within the attempts without drawing on the endpoint's quota: one account's throttling
/// must not spend the retries of every other account at that endpoint; the caller's per-account rate limit is what
/// slows a throttled account.
public final class StandardRetryStrategy: Sendable {
    /// Attempts per call, the first included (`AWS_MAX_ATTEMPTS`, default 3).
    public let maxAttempts: Int
    /// The base of the exponential backoff: the n-th retry waits up to `base * 2^(n-1)`.
    public let baseDelay: Duration
    /// No single wait is longer than this (20 s in the SDKs).
    public let maxBackoff: Duration
    /// The quota of the endpoint this strategy's calls go to.
    public let quota: AWSRetryQuota
    private let random: @Sendable () -> Double

    /// Error codes the SDKs treat as throttling.
    public static let throttlingCodes: Set<String> = [
        "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
        "TooManyRequestsException", "ProvisionedThroughputExceededException", "TransactionInProgressException",
        "RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled",
        "SlowDown", "PriorRequestNotComplete", "EC2ThrottledException",
    ]
    /// Error codes the SDKs treat as transient, plus the sso-admin model's retryable server fault.
    public static let transientCodes: Set<String> = [
        "RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete", "InternalServerException",
        "InternalError", "ServiceUnavailable", "InternalFailure",
    ]
    public static let transientStatusCodes: Set<Int> = [500, 502, 503, 504]

    public init(
        maxAttempts: Int = 3,
        baseDelay: Duration = .seconds(1),
        maxBackoff: Duration = .seconds(20),
        quota: AWSRetryQuota = AWSRetryQuota(),
        random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }
    ) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = baseDelay
        self.maxBackoff = maxBackoff
        self.quota = quota
        self.random = random
    }

    /// What the retry rules make of one failed attempt.
    public enum Classification: Sendable, Equatable {
        case throttling
        case transient
        case timeout
        case notRetryable
    }

    public static func classify(_ error: AWSClientError) -> Classification {
        if let serviceError = error.serviceError {
            if throttlingCodes.contains(serviceError.code) || serviceError.statusCode == 429 { return .throttling }
            if transientCodes.contains(serviceError.code) || transientStatusCodes.contains(serviceError.statusCode) {
                return .transient
            }
            return .notRetryable
        }
        switch error.transportError {
        case .timeout: return .timeout
        case .connection: return .transient
        case .invalidResponse, .invalidRequest, .paced, nil: return .notRetryable
        }
    }

    /// The wait before attempt `attempt + 1` after attempt `attempt` (1-based) failed, or nil to give up.
    /// Taking from the quota here is what makes the decision: a refused retry costs nothing.
    public func retryDelay(after attempt: Int, error: AWSClientError) -> Duration? {
        let kind = Self.classify(error)
        guard kind != .notRetryable, attempt < maxAttempts else { return nil }
        switch kind {
        case .throttling: break
        case .timeout: guard quota.take(AWSRetryQuota.timeoutRetryCost) else { return nil }
        default: guard quota.take(AWSRetryQuota.retryCost) else { return nil }
        }
        let exponent = min(attempt - 1, 30)
        let ceiling = min(baseDelay * (1 << exponent), maxBackoff)
        return ceiling * random()
    }

    /// Gives back quota after a success: what the retry took, or a little when no retry was needed.
    public func recordSuccess(retriedAfter kind: Classification?) {
        switch kind {
        case .none: quota.refund(AWSRetryQuota.noRetryIncrement)
        case .throttling: break
        case .timeout: quota.refund(AWSRetryQuota.timeoutRetryCost)
        default: quota.refund(AWSRetryQuota.retryCost)
        }
    }

    /// The retry quota left, for tests and diagnostics.
    public var availableQuota: Int { quota.tokens }
}
