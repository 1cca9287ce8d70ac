import AWSClient
import AsyncHTTPClient
import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle
import UnixSignals

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Wires the configured pieces together and runs them under one `ServiceGroup` until SIGTERM or SIGINT.
public struct ExporterApplication: Sendable {
    public let configuration: ExporterConfiguration
    public let credentialProvider: any AWSCredentialProvider
    public let logger: Logger

    public init(configuration: ExporterConfiguration, credentialProvider: any AWSCredentialProvider, logger: Logger) {
        self.configuration = configuration
        self.credentialProvider = credentialProvider
        self.logger = logger
    }

    /// The metrics page for a configuration, over any transport (tests pass a loopback one).
    public static func makeMetricsPage(
        configuration: ExporterConfiguration,
        credentialProvider: any AWSCredentialProvider,
        transport: any AWSHTTPTransport,
        clock: MonotonicClock = .continuous,
        wallClock: @escaping @Sendable () -> Date = { Date() },
        logger: Logger
    ) -> MetricsPage {
        let target = configuration.target
        let selfMetrics = ExporterSelfMetrics(
            registry: PrometheusCollectorRegistry(),
            target: target,
            operations: [SSOAdminClient.listInstances]
        )
        let client = AWSJSONClient(
            endpoint: configuration.endpoint,
            targetPrefix: SSOAdminClient.targetPrefix,
            credentialProvider: credentialProvider,
            transport: transport,
            retryStrategy: StandardRetryStrategy(maxAttempts: configuration.maxAttempts),
            requestTimeout: configuration.requestTimeout,
            userAgent: BuildInfo.userAgent,
            clock: clock,
            wallClock: wallClock,
            observer: selfMetrics,
            logger: logger
        )
        let paginator = ListInstancesPaginator(client: SSOAdminClient(client: client), pageSize: configuration.pageSize)
        let collector = InstanceCollector(
            target: target,
            paginator: paginator,
            metrics: selfMetrics,
            minInterval: configuration.minInterval,
            clock: clock,
            wallClock: wallClock,
            logger: logger
        )
        return MetricsPage(collector: collector, selfMetrics: selfMetrics, processMetrics: ProcessMetrics())
    }

    /// The Hummingbird application serving the exporter's routes.
    public static func makeHTTPApplication(
        configuration: ExporterConfiguration,
        page: MetricsPage,
        logger: Logger
    ) -> some ApplicationProtocol {
        Application(
            router: ExporterRouter.make(configuration: configuration, page: page),
            configuration: .init(
                address: .hostname(configuration.listenAddress.host, port: configuration.listenAddress.port),
                serverName: "sso-admin-exporter/\(BuildInfo.version)"
            ),
            logger: logger
        )
    }

    /// Serves until a termination signal, then shuts down gracefully.
    public func run() async throws {
        let httpClient = AsyncHTTPClientTransport.makeHTTPClient(connectTimeout: configuration.connectTimeout)
        let page = Self.makeMetricsPage(
            configuration: configuration,
            credentialProvider: credentialProvider,
            transport: AsyncHTTPClientTransport(client: httpClient),
            logger: logger
        )
        let app = Self.makeHTTPApplication(configuration: configuration, page: page, logger: logger)
        // Listed first so it is shut down last, after the server has stopped taking scrapes.
        let group = ServiceGroup(
            configuration: .init(
                services: [HTTPClientService(client: httpClient), app],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
    }
}

/// Keeps the AWS HTTP client alive for the service group's lifetime and shuts it down cleanly.
struct HTTPClientService: Service {
    let client: HTTPClient

    func run() async throws {
        try? await gracefulShutdown()
        try await client.shutdown()
    }
}
