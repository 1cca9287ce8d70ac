import ServiceLifecycle
import Synchronization

/// The AWS client: one configuration, the connections it opens, and the senders made over them. It is itself the
/// `Service` that keeps its connections open while the program runs and closes them after graceful shutdown (as
/// PostgresNIO's `PostgresClient` is), so a program that calls AWS never handles an HTTP client of its own.
///
/// Per-service clients (sso-admin, STS, Organizations) are derived from it with ``sender(for:credentials:observer:through:)``:
/// each shares its connections, its retry quotas per regional endpoint, its clock and its logger.
public final class AWSClient: Service, Sendable {
    public let configuration: AWSClientConfiguration
    /// Every call to AWS goes through this transport: direct, or through the configured proxy.
    public let transport: any AWSHTTPTransport
    /// The link-local instance metadata and container endpoints, which are never reached through a proxy.
    public let localTransport: any AWSHTTPTransport
    /// The connections this client opened and must close; `nil` over a transport made elsewhere.
    private let connections: AWSHTTPClients?
    private let closed = Mutex(false)

    /// A client that opens its connections as `configuration` says.
    public init(configuration: AWSClientConfiguration) throws {
        let (routing, connections) = try ProxyRoutingTransport.make(
            settings: configuration.transport.proxy, connectTimeout: configuration.timeout.connect,
            maxConnectionsPerHost: configuration.transport.maxConnectionsPerHost)
        self.configuration = configuration
        self.transport = routing
        self.localTransport = routing.direct
        self.connections = connections
    }

    /// A client over a transport made elsewhere (a test's loopback, an embedding program's own), which it does not
    /// close; `configuration.transport` and `configuration.timeout.connect` are that transport's business.
    public init(
        configuration: AWSClientConfiguration, transport: any AWSHTTPTransport,
        localTransport: (any AWSHTTPTransport)? = nil
    ) {
        self.configuration = configuration
        self.transport = transport
        self.localTransport = localTransport ?? transport
        self.connections = nil
    }

    /// The executor on which tasks that make calls through this client should run (see
    /// ``EventLoopGroupTaskExecutor``); `nil` when its transport has no preference.
    public var taskExecutor: (any TaskExecutor)? { connections?.taskExecutor }

    /// Keeps the connections open until graceful shutdown, then closes them: run it in the service group after the
    /// services that call AWS, so that it closes last.
    public func run() async throws {
        try? await gracefulShutdown()
        try await shutdown()
    }

    /// Closes the connections, once; for callers without a service group, such as tests.
    public func shutdown() async throws {
        let first = closed.withLock { closed in
            defer { closed = true }
            return !closed
        }
        guard first else { return }
        try await connections?.shutdown()
    }

    /// A sender for calls to `endpoint` as `credentials` (`nil` for unsigned operations only), reporting every
    /// attempt to `observer`, through `through` when given (a per-account rate limit around ``transport``).
    public func sender(
        for endpoint: AWSServiceEndpoint, credentials: (any AWSCredentialProvider)?,
        observer: (any AWSRequestObserver)? = nil, through: (any AWSHTTPTransport)? = nil
    ) -> AWSRequestSender {
        AWSRequestSender(
            endpoint: endpoint, credentialProvider: credentials, transport: through ?? transport,
            configuration: configuration, observer: observer)
    }
}
