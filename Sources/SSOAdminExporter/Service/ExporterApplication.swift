import AWSClient
import Hummingbird
import HummingbirdCore
import Logging
import ServiceLifecycle
import UnixSignals

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Where the exporter's AWS credentials come from.
package enum ExporterCredentials: Sendable {
    /// A provider given by the caller (tests, embedding).
    case provider(any AWSCredentialProvider)
    /// The SDKs' default chain over this environment, with the configuration's profile and role on top.
    case defaultChain(environment: [String: String])
}

/// Wires the configured pieces together and runs them under one `ServiceGroup` until SIGTERM or SIGINT.
package struct ExporterApplication: Sendable {
    package let configuration: ExporterConfiguration
    package let credentials: ExporterCredentials
    /// `--web.config.file`, loaded; `nil` serves plain HTTP without authentication.
    package let webConfiguration: WebConfiguration?
    package let logger: Logger

    package init(
        configuration: ExporterConfiguration, credentials: ExporterCredentials,
        webConfiguration: WebConfiguration? = nil, logger: Logger
    ) {
        self.configuration = configuration
        self.credentials = credentials
        self.webConfiguration = webConfiguration
        self.logger = logger
    }

    /// The default chain as a provider that resolves on first use and again after a failure, reporting to
    /// `metrics` and logging the chosen source once.
    package static func makeChainProvider(
        configuration: ExporterConfiguration,
        environment: [String: String],
        client: AWSClient,
        metrics: ExporterSelfMetrics,
        readFile: @escaping @Sendable (String) throws -> String? = AWSSharedConfiguration.readFileIfPresent,
        logger: Logger
    ) -> ResolvingCredentialProvider {
        let context = AWSCredentialChainContext(
            environment: environment,
            profile: configuration.aws.profile,
            region: configuration.aws.endpoint.region,
            endpointVariants: configuration.aws.endpointVariants,
            client: client,
            sessionNamePrefix: BuildInfo.name,
            observers: .init(
                credentials: metrics,
                requests: metrics.requestObserver(region: configuration.aws.endpoint.region, accountID: { "" })),
            readFile: readFile
        )
        let assumeRole = configuration.aws.assumeRole
        return ResolvingCredentialProvider(
            resolve: {
                var resolved = try AWSCredentialChain.resolve(context)
                if let assumeRole {
                    resolved = try AWSCredentialChain.assumingRole(
                        AssumeRoleRequest(
                            roleARN: assumeRole.roleARN,
                            roleSessionName: assumeRole.roleSessionName
                                ?? AWSCredentialChain.defaultSessionName(context),
                            externalID: assumeRole.externalID),
                        from: resolved, context: context)
                }
                return resolved
            },
            onResolved: { resolved in
                metrics.registerCredentialProvider(resolved.provider.name)
                logger.info(
                    "AWS credentials source chosen",
                    metadata: ["provider": "\(resolved.provider.name)", "source": "\(resolved.source)"])
            },
            onFailure: { error, counted in
                if counted { metrics.credentialsRefreshFailed(provider: error.provider, error: error) }
                logger.error("AWS credentials unavailable", metadata: ["error": "\(error)"])
            }
        )
    }

    /// The Hummingbird application serving the exporter's routes, with the connection limits of `limiter`, and
    /// TLS, authentication and headers from `web` when given.
    package static func makeHTTPApplication(
        configuration: ExporterConfiguration,
        routes: ExporterRoutes,
        limiter: ConnectionLimiter,
        web: WebConfigurationStore? = nil,
        logger: Logger
    ) -> some ApplicationProtocol {
        let http1 = HTTP1Channel.Configuration(additionalChannelHandlers: limiter.channelHandlers())
        return Application(
            router: ExporterRouter.make(routes, web: web),
            server: web.map {
                .http1(configuration: http1, webConfiguration: $0, onClientRefused: { limiter.reject(.clientSAN) })
            } ?? .http1(configuration: http1),
            configuration: .init(
                address: .hostname(configuration.web.listenAddress.host, port: configuration.web.listenAddress.port),
                serverName: "sso-admin-exporter/\(BuildInfo.version)"
            ),
            logger: logger
        )
    }

    /// The limiter for a configuration's `--web.max-connections` and `--web.read-timeout`, counting into `metrics`.
    package static func makeConnectionLimiter(configuration: ExporterConfiguration, metrics: ExporterSelfMetrics)
        -> ConnectionLimiter
    {
        ConnectionLimiter(
            maxConnections: configuration.web.maxConnections, readTimeout: configuration.web.readTimeout,
            metrics: metrics.processWide)
    }

    /// Serves until a termination signal, then shuts down gracefully: in-flight collections are cancelled, so the
    /// process exits within seconds whatever the AWS timeouts.
    package func run() async throws {
        // Trapped first, so that a SIGHUP during startup is logged rather than ending the process.
        let otherSignals = await UnixSignalsSequence(trapping: SignalLogger.trapped)
        let client: AWSClient
        do {
            client = try AWSClient(configuration: configuration.awsClient(logger: logger))
        } catch {
            throw ExporterConfigurationError("cannot set up the AWS client: \(error)")
        }
        let metrics = ExporterSelfMetrics()
        let provider: any AWSCredentialProvider
        var environment: [String: String] = [:]
        switch credentials {
        case .provider(let given):
            provider = given
        case .defaultChain(let given):
            environment = given
            let chain = Self.makeChainProvider(
                configuration: configuration, environment: environment, client: client, metrics: metrics,
                logger: logger)
            // Resolved now so the source is logged at startup; a failure is logged and retried on each scrape.
            if let lastResort = (try? await chain.current(counted: false))?.lastResort {
                Self.checkLastResortCredentials(lastResort, logger: logger)
            }
            provider = chain
        }
        let exporter = try Exporter(
            configuration: configuration,
            credentialProvider: provider,
            client: client,
            selfMetrics: metrics,
            environment: environment,
            logger: logger
        )
        var serverConfiguration = configuration
        let descriptorLimit = DescriptorLimit.current()
        serverConfiguration.web.maxConnections = DescriptorLimit.connectionsThatFit(
            configuration.web.maxConnections, limit: descriptorLimit)
        if serverConfiguration.web.maxConnections < configuration.web.maxConnections {
            logger.warning(
                "--web.max-connections lowered to fit the descriptor limit",
                metadata: [
                    "requested": "\(configuration.web.maxConnections)",
                    "used": "\(serverConfiguration.web.maxConnections)",
                    "descriptor_limit": "\(descriptorLimit.map(String.init) ?? "unknown")",
                ])
        }
        let limiter = Self.makeConnectionLimiter(configuration: serverConfiguration, metrics: metrics)
        let web = webConfiguration.map(WebConfigurationStore.init)
        let app = Self.makeHTTPApplication(
            configuration: configuration, routes: exporter.routes, limiter: limiter, web: web, logger: logger)
        let (hangups, hangupContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        var onHangup: (@Sendable () -> Void)?
        if web != nil || exporter.reloader != nil {
            let reloader = exporter.reloader
            let reloadsWeb = web != nil
            onHangup = { @Sendable in
                if reloadsWeb { _ = hangupContinuation.yield() }
                reloader?.hangup()
            }
        }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: client), .init(service: app)]
        services += exporter.services.map { .init(service: $0, successTerminationBehavior: .ignore) }
        services += [
            .init(
                service: SignalLogger(
                    signals: otherSignals, onHangup: onHangup, logger: logger),
                successTerminationBehavior: .ignore)
        ]
        if let web {
            services.append(
                .init(
                    service: WebConfigurationReloader(
                        store: web, hangups: hangups, metrics: metrics.processWide, logger: logger),
                    successTerminationBehavior: .ignore))
        }
        // Shut down in reverse order: the reloader and signal logger, then the collector (cancelling AWS calls and
        // answering waiting scrapes), then the server, then the AWS client's connections.
        var groupConfiguration = ServiceGroupConfiguration(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        groupConfiguration.maximumGracefulShutdownDuration = Self.maximumGracefulShutdown
        groupConfiguration.maximumCancellationDuration = .seconds(1)
        try await ServiceGroup(configuration: groupConfiguration).run()
    }
}

extension ExporterApplication {
    /// When nothing but EC2 instance metadata is left to try, asks it once, in the background, so that a machine
    /// with no credentials at all (a laptop, a container without a role) is told so at startup, with what to set,
    /// instead of at the first scrape. Instance metadata itself is asked, never a role assumed with it, so that
    /// only its failure is called "no credentials". The exporter serves either way; scrapes keep retrying the chain.
    static func checkLastResortCredentials(_ lastResort: ResolvedCredentialProvider.LastResort, logger: Logger) {
        Task {
            do {
                _ = try await lastResort.provider.credentials()
            } catch {
                logger.warning(
                    """
                    no AWS credentials found: the SDK chain found none configured and EC2 instance metadata gave none; \
                    set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or a role (see \
                    "Credentials" in the README). Serving meanwhile; every collection fails until then
                    """,
                    metadata: [
                        "tried": "\(lastResort.emptySources), then \(lastResort.source)",
                        "error": "\(NetworkText.sanitized(String(describing: error), limit: 300))",
                    ])
            }
        }
    }

    /// Past this, services still running are cancelled: well inside Kubernetes' default 30 s grace period.
    package static let maximumGracefulShutdown: Duration = .seconds(5)
}

/// Logs the signals an operator may send by habit (SIGHUP to reload, SIGUSR1 and SIGUSR2 for diagnostics), which
/// would otherwise end the process without a word. SIGHUP reloads `--web.config.file` when there is one.
struct SignalLogger: Service {
    static let trapped: [UnixSignal] = [.sighup, .sigusr1, .sigusr2, .sigalrm]
    let signals: UnixSignalsSequence
    /// What SIGHUP does; `nil` when there is nothing to reload.
    var onHangup: (@Sendable () -> Void)?
    let logger: Logger

    func run() async throws {
        for await signal in signals.cancelOnGracefulShutdown() {
            if signal == .sighup, let onHangup {
                logger.info("SIGHUP: reloading the configuration files", metadata: ["signal": "\(signal)"])
                onHangup()
                continue
            }
            logger.warning(
                "signal received and ignored",
                metadata: [
                    "signal": "\(signal)",
                    "note": "\(signal == .sighup ? "no configuration file to reload" : "no action for this signal")",
                ])
        }
    }
}
