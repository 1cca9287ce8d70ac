import Logging

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// How a client talks to AWS, apart from where (the endpoint) and as whom (the credentials): timeouts, retries,
/// the `User-Agent` it sends, the clocks it reads and its logger. One value, as AsyncHTTPClient's
/// `HTTPClient.Configuration` is, so that every sender (sso-admin, STS, Organizations, Account) is made alike.
public struct AWSClientConfiguration: Sendable {
    public struct Timeout: Sendable {
        /// Establishing a connection.
        public var connect: Duration
        /// One attempt, from sending the request to the end of the response body; a deadline may cut it shorter.
        public var request: Duration

        public init(connect: Duration = .seconds(5), request: Duration = .seconds(10)) {
            self.connect = connect
            self.request = request
        }
    }

    /// The SDKs' `standard` retry mode.
    public struct Retry: Sendable {
        /// Attempts per call, the first included (`AWS_MAX_ATTEMPTS`).
        public var maxAttempts: Int
        /// The jitter of each backoff, a number in 0..<1; tests fix it.
        public var jitter: @Sendable () -> Double
        /// The retry quota of each regional endpoint, shared by every sender made with this configuration or a
        /// copy of it.
        public var quotas: AWSRetryQuotas

        public init(
            maxAttempts: Int = 3, jitter: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) },
            quotas: AWSRetryQuotas = AWSRetryQuotas()
        ) {
            self.maxAttempts = maxAttempts
            self.jitter = jitter
            self.quotas = quotas
        }
    }

    public var timeout: Timeout
    public var retry: Retry
    /// Names the program; the caller passes its own (the client speaks no program's name).
    public var userAgent: String
    public var clock: AWSClock
    public var logger: Logger

    public init(
        userAgent: String, timeout: Timeout = Timeout(), retry: Retry = Retry(), clock: AWSClock = .continuous,
        logger: Logger = Logger(label: "aws-client")
    ) {
        self.userAgent = userAgent
        self.timeout = timeout
        self.retry = retry
        self.clock = clock
        self.logger = logger
    }
}
