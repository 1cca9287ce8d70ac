import AWSClient
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Finds the organization's accounts and keeps the discovered targets of a ``TargetSet`` up to date: every
/// `refresh_interval`, lists the accounts (Organizations `ListAccounts`, as the exporter or `role_arn`), keeps those
/// in the configured states and lists, and makes one target per account and region, reached through
/// `arn:{partition}:iam::{account}:role/{role_name}`. With `regions: enabled`, each account's enabled regions come
/// from Account `ListRegions`, asked with that account's role.
///
/// A discovery that fails, wholly or for some accounts' regions, keeps what the last good one found for them.
public final class OrganizationDiscovery: Service {
    public let settings: TargetsConfiguration.Discovery
    private let targets: TargetSet
    private let factory: TargetSourceFactory
    private let organizations: OrganizationsClient
    /// Account Management's endpoint, for `regions: enabled`; resolved once, not per account and discovery.
    private let accountEndpoint: AWSServiceEndpoint
    private let partition: String
    private let maxConcurrency: Int
    private let timeout: Duration
    private let taskExecutor: (any TaskExecutor)?
    private let logger: Logger
    private let state = Mutex(State())

    private struct State {
        var regions: [String: [String]] = [:]
        var managementAccountID: String?
    }

    private let accountsGauge: Gauge
    private let durationGauge: Gauge
    private let lastSuccessGauge: Gauge
    private let errors: Counter

    /// - Parameter taskExecutor: where each discovery runs, such as the transport's
    ///   ``AWSClient/EventLoopGroupTaskExecutor``. Unlike a collection, which the schedulers start there, a
    ///   discovery switches to it itself: it runs once per interval, so one switch costs nothing that shows.
    public init(
        settings: TargetsConfiguration.Discovery, targets: TargetSet, factory: TargetSourceFactory,
        maxConcurrency: Int, timeout: Duration, taskExecutor: (any TaskExecutor)? = nil, logger: Logger
    ) throws(ExporterConfigurationError) {
        self.settings = settings
        self.targets = targets
        self.factory = factory
        self.maxConcurrency = maxConcurrency
        self.timeout = timeout
        self.taskExecutor = taskExecutor
        self.logger = logger
        let configuration = factory.configuration
        partition = AWSPartition.of(configuration.endpoint.region).id
        let endpoint: AWSServiceEndpoint
        do {
            endpoint = try GlobalServiceEndpoint.resolve(
                prefix: "organizations", signingName: OrganizationsClient.signingName,
                environmentName: OrganizationsClient.endpointEnvironmentName, region: configuration.endpoint.region,
                environment: factory.environment)
            accountEndpoint = try GlobalServiceEndpoint.resolve(
                prefix: "account", signingName: AccountClient.signingName,
                environmentName: AccountClient.endpointEnvironmentName, region: configuration.endpoint.region,
                environment: factory.environment)
        } catch {
            throw ExporterConfigurationError("discovery.organizations: \(error)")
        }
        let accountID = settings.role?.accountID ?? ""
        let provider = settings.role.map { factory.role(for: $0, durationSeconds: nil) } ?? factory.baseProvider
        organizations = OrganizationsClient(
            client: AWSJSONClient(
                sender: factory.sender(
                    endpoint, provider: provider, transport: factory.transport,
                    observer: factory.metrics.requestObserver(region: endpoint.region, accountID: { accountID })),
                targetPrefix: OrganizationsClient.targetPrefix))
        for (operation, errors) in [
            (OrganizationsClient.listAccounts.name, OrganizationsClient.listAccounts.modeledErrors),
            (OrganizationsClient.describeOrganization.name, OrganizationsClient.describeOrganization.modeledErrors),
        ] {
            factory.metrics.register(
                operation: operation, modeledErrors: errors, region: endpoint.region, accountID: accountID)
        }
        let registry = factory.metrics.registry
        accountsGauge = registry.makeGauge(descriptor: MetricCatalog.discoveryAccounts.descriptor)
        durationGauge = registry.makeGauge(descriptor: MetricCatalog.discoveryDuration.descriptor)
        lastSuccessGauge = registry.makeGauge(descriptor: MetricCatalog.discoveryLastSuccess.descriptor)
        errors = registry.makeCounter(descriptor: MetricCatalog.discoveryErrors.descriptor)
    }

    /// The management account, once a discovery has read it: instances it owns are the organization instance.
    public var managementAccountID: String? { state.withLock { $0.managementAccountID } }

    /// Discovers once; on failure the targets found before stay.
    public func discover() async {
        await withTaskExecutorPreference(taskExecutor) { await discoverOnExecutor() }
    }

    private func discoverOnExecutor() async {
        let clock = factory.clock
        let started = clock.now()
        defer { durationGauge.set(started.duration(to: clock.now()).secondsDouble) }
        do {
            let deadline = started.advanced(by: timeout)
            async let management = organizations.managementAccountID(deadline: deadline)
            let listed = try await organizations.accounts(deadline: deadline)
            let managementAccountID = try? await management
            let kept = listed.filter { account in
                settings.accountStates.contains(account.state)
                    && (settings.includeAccounts?.contains(account.id) ?? true)
                    && !settings.excludeAccounts.contains(account.id)
            }.map(\.id)
            // A real organization always lists at least its management account.
            guard !listed.isEmpty else {
                throw DiscoveryError("ListAccounts returned no account; keeping the last good list")
            }
            if kept.isEmpty {
                logger.warning(
                    "organization discovery kept no account: check account_states, include_accounts, exclude_accounts",
                    metadata: ["accounts_listed": "\(listed.count)"])
            }
            let regions = await regionsByAccount(kept)
            var sources: [TargetSource] = []
            for account in kept {
                let provider = factory.role(
                    for: memberRole(account), durationSeconds: settings.durationSeconds)
                for region in regions[account] ?? [] {
                    let target = CollectionTarget(
                        name: "\(account)/\(region)", region: region, accountID: account,
                        staticLabels: settings.labels)
                    sources.append(
                        try factory.source(
                            target, provider: provider,
                            transport: factory.rateLimitedTransport(account: account)))
                }
            }
            targets.replaceDiscovered(sources)
            state.withLock { $0.managementAccountID = managementAccountID ?? $0.managementAccountID }
            accountsGauge.set(Double(kept.count))
            lastSuccessGauge.set(factory.clock.wallTime().timeIntervalSince1970)
            logger.info(
                "organization discovered",
                metadata: [
                    "accounts_listed": "\(listed.count)", "accounts_kept": "\(kept.count)",
                    "targets": "\(sources.count)",
                ])
        } catch {
            errors.increment()
            logger.warning(
                "organization discovery failed; keeping the last good account list",
                metadata: ["error": "\(NetworkText.sanitized(String(describing: error)))"])
        }
    }

    private func memberRole(_ account: String) -> ExporterConfiguration.AssumeRoleOptions {
        ExporterConfiguration.AssumeRoleOptions(
            roleARN: "arn:\(partition):iam::\(account):role/\(settings.roleName)", externalID: settings.externalID,
            roleSessionName: settings.roleSessionName)
    }

    /// The configured regions, or each account's enabled ones, `maxConcurrency` accounts at a time; an account whose
    /// regions cannot be read keeps those read last time (none the first time).
    private func regionsByAccount(_ accounts: [String]) async -> [String: [String]] {
        if let configured = settings.regions {
            return Dictionary(uniqueKeysWithValues: accounts.map { ($0, configured) })
        }
        let clock = factory.clock
        let found = await withTaskGroup(of: (String, [String]?).self) { group in
            var running = 0
            var found: [String: [String]] = [:]
            for account in accounts {
                if running == maxConcurrency, let (account, regions) = await group.next() {
                    running -= 1
                    found[account] = regions
                }
                group.addTask {
                    do {
                        let client = self.accountClient(account)
                        return (
                            account, try await client.enabledRegions(deadline: clock.now().advanced(by: self.timeout))
                        )
                    } catch {
                        self.logger.warning(
                            "cannot read an account's enabled regions; keeping the last known",
                            metadata: ["account_id": "\(account)", "error": "\(error)"])
                        return (account, nil)
                    }
                }
                running += 1
            }
            for await (account, regions) in group { found[account] = regions }
            return found
        }
        let current = Set(accounts)
        return state.withLock { state in
            for (account, regions) in found { state.regions[account] = regions }
            state.regions = state.regions.filter { current.contains($0.key) }
            return state.regions
        }
    }

    private func accountClient(_ account: String) -> AccountClient {
        let endpoint = accountEndpoint
        return AccountClient(
            client: AWSJSONClient(
                sender: factory.sender(
                    endpoint,
                    provider: factory.role(for: memberRole(account), durationSeconds: settings.durationSeconds),
                    transport: factory.rateLimitedTransport(account: account),
                    observer: factory.metrics.requestObserver(region: endpoint.region, accountID: { account })),
                targetPrefix: ""))
    }

    /// Discovers at once, then every `refresh_interval` until graceful shutdown.
    public func run() async {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.discover()
                do { try await self.factory.clock.sleep(for: self.settings.refreshInterval) } catch { break }
            }
        }
    }
}

/// A discovery that found nothing usable.
struct DiscoveryError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
