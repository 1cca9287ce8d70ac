import Logging

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// How a client talks to AWS, apart from where (the endpoint) and as whom (the credentials): its connections
/// (connect timeout, pool, proxy), timeouts, retries, the `User-Agent` it sends, the clocks it reads and its logger.
/// One value, as AsyncHTTPClient's `HTTPClient.Configuration` is, that reaches everything it configures: an
/// ``AWSClient`` is made from it, and every sender (sso-admin, STS, Organizations, Account) from that client.
public struct AWSClientConfiguration: Sendable {
    /// The connections an ``AWSClient`` opens.
    public struct Transport: Sendable {
        /// Idle connections kept per host; at least as many as calls run at once to one endpoint, so that a
        /// steady load reuses its connections.
        public var maxConnectionsPerHost: Int
        /// `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY`; none by default.
        public var proxy: ProxySettings

        public init(maxConnectionsPerHost: Int = 8, proxy: ProxySettings = ProxySettings()) {
            self.maxConnectionsPerHost = maxConnectionsPerHost
            self.proxy = proxy
        }
    }

    public struct Timeout: Sendable {
        /// Establishing a connection (TCP and TLS), on every transport the client makes.
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

    public var transport: Transport
    public var timeout: Timeout
    public var retry: Retry
    /// Names the program; the caller passes its own (the client speaks no program's name).
    public var userAgent: String
    public var clock: AWSClock
    public var logger: Logger

    public init(
        userAgent: String, transport: Transport = Transport(), timeout: Timeout = Timeout(), retry: Retry = Retry(),
        clock: AWSClock = .continuous, logger: Logger = Logger(label: "aws-client")
    ) {
        self.userAgent = userAgent
        self.transport = transport
        self.timeout = timeout
        self.retry = retry
        self.clock = clock
        self.logger = logger
    }
}
