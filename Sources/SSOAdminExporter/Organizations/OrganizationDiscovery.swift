import AWSClient
import Logging
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
package final class OrganizationDiscovery: Service {
    package let settings: TargetsConfiguration.Discovery
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
    /// Made at the first successful discovery: before it the series is absent, as the collections' is, not 0.
    private let lastSuccessGauge = Mutex<Gauge?>(nil)
    private let metrics: ProcessWideMetrics
    private let errors: Counter
    private let accountErrors: [AccountErrorReason: Counter]
    /// The account discovery's own calls are counted under (its role's, or the exporter's own: empty).
    private let callerAccountID: String
    private let organizationsRegion: String

    /// Why an account's Regions were not read in full: the `reason` label of
    /// `aws_sso_admin_discovery_account_errors_total`.
    enum AccountErrorReason: String, CaseIterable {
        case regionsUnreadable = "regions_unreadable"
        case invalidRegions = "invalid_regions"
        case tooManyRegions = "too_many_regions"
    }

    /// How often, at most, a discovery publishes the targets of accounts whose Regions arrived meanwhile.
    static let publishInterval: Duration = .seconds(1)

    /// What a discovery's `ListRegions` task group hears: an account's Regions (`nil`: unreadable), or that it is
    /// time to publish those that arrived.
    private enum LookupEvent: Sendable {
        case regions(String, [String]?)
        case publish
    }

    /// - Parameter taskExecutor: where each discovery runs, such as the transport's
    ///   ``AWSClient/EventLoopGroupTaskExecutor``. Unlike a collection, which the schedulers start there, a
    ///   discovery switches to it itself: it runs once per interval, so one switch costs nothing that shows.
    package init(
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
        partition = AWSPartition.of(configuration.aws.endpoint.region).id
        let endpoint: AWSServiceEndpoint
        do {
            endpoint = try GlobalServiceEndpoint.resolve(
                prefix: "organizations", signingName: OrganizationsClient.signingName,
                environmentName: OrganizationsClient.endpointEnvironmentName, region: configuration.aws.endpoint.region,
                environment: factory.environment)
            accountEndpoint = try GlobalServiceEndpoint.resolve(
                prefix: "account", signingName: AccountClient.signingName,
                environmentName: AccountClient.endpointEnvironmentName, region: configuration.aws.endpoint.region,
                environment: factory.environment)
        } catch {
            throw ExporterConfigurationError("discovery.organizations: \(error)")
        }
        let accountID = settings.role?.accountID ?? ""
        let provider = settings.role.map { factory.role(for: $0, durationSeconds: nil) } ?? factory.baseProvider
        organizations = OrganizationsClient(
            client: AWSJSONClient(
                sender: factory.sender(
                    endpoint, provider: provider, transport: factory.client.transport,
                    observer: factory.metrics.requestObserver(region: endpoint.region, accountID: { accountID })),
                targetPrefix: OrganizationsClient.targetPrefix))
        for (operation, errors) in [
            (OrganizationsClient.listAccounts.name, OrganizationsClient.listAccounts.modeledErrors),
            (OrganizationsClient.describeOrganization.name, OrganizationsClient.describeOrganization.modeledErrors),
        ] {
            factory.metrics.register(
                operation: operation, modeledErrors: errors, region: endpoint.region, accountID: accountID)
        }
        let metrics = factory.metrics.processWide
        accountsGauge = metrics.gauge(MetricCatalog.discoveryAccounts)
        durationGauge = metrics.gauge(MetricCatalog.discoveryDuration)
        self.metrics = metrics
        errors = metrics.counter(MetricCatalog.discoveryErrors)
        var accountErrors: [AccountErrorReason: Counter] = [:]
        for reason in AccountErrorReason.allCases {
            accountErrors[reason] = metrics.counter(
                MetricCatalog.discoveryAccountErrors, labels: [("reason", reason.rawValue)])
        }
        self.accountErrors = accountErrors
        callerAccountID = accountID
        organizationsRegion = endpoint.region
        factory.pin(accountID: accountID)
    }

    /// The management account, once a discovery has read it: instances it owns are the organization instance.
    package var managementAccountID: String? { state.withLock { $0.managementAccountID } }

    /// Discovers once; on failure the targets found before stay.
    package func discover() async {
        await withTaskExecutorPreference(taskExecutor) { await discoverOnExecutor() }
    }

    private func discoverOnExecutor() async {
        let clock = factory.clock
        let started = clock.now()
        defer { durationGauge.set(started.duration(to: clock.now()).secondsDouble) }
        do {
            let deadline = started.advanced(by: timeout)
            async let management = organizations.managementAccountID(deadline: deadline)
            let listed: [OrganizationAccount]
            do {
                listed = try await organizations.accounts(deadline: deadline)
            } catch let error as AWSClientError {
                // Calls are counted attempt by attempt; pages that would never end only here.
                if let pagination = error.paginationError {
                    factory.metrics.recordError(
                        region: organizationsRegion, accountID: callerAccountID, operation: pagination.operation,
                        exception: pagination.exceptionName)
                }
                throw error
            }
            let managementAccountID = try? await management
            let selected = listed.filter { account in
                settings.accountStates.contains(account.state)
                    && (settings.includeAccounts?.contains(account.id) ?? true)
                    && !settings.excludeAccounts.contains(account.id)
            }.map(\.id)
            // Before any role is assumed or Region listed: another replica does that for the other accounts.
            let shard = factory.shard
            let kept = selected.filter { shard.owns(accountID: $0) }
            // A real organization always lists at least its management account.
            guard !listed.isEmpty else {
                throw DiscoveryError("ListAccounts returned no account; keeping the last good list")
            }
            if kept.isEmpty, !selected.isEmpty {
                logger.warning(
                    "organization discovery kept no account for this shard: more replicas than accounts?",
                    metadata: [
                        "accounts_selected": "\(selected.count)", "shard_index": "\(shard.index)",
                        "shard_count": "\(shard.count)",
                    ])
            } else if kept.isEmpty {
                logger.warning(
                    "organization discovery kept no account: check account_states, include_accounts, exclude_accounts",
                    metadata: ["accounts_listed": "\(listed.count)"])
            }
            let targetCount = try await publishTargets(of: kept)
            state.withLock { $0.managementAccountID = managementAccountID ?? $0.managementAccountID }
            accountsGauge.set(Double(kept.count))
            let lastSuccess = lastSuccessGauge.withLock { gauge in
                if let gauge { return gauge }
                let made = metrics.gauge(MetricCatalog.discoveryLastSuccess)
                gauge = made
                return made
            }
            lastSuccess.set(factory.clock.wallTime().timeIntervalSince1970)
            logger.info(
                "organization discovered",
                metadata: [
                    "accounts_listed": "\(listed.count)", "accounts_selected": "\(selected.count)",
                    "accounts_kept": "\(kept.count)", "targets": "\(targetCount)", "shard_index": "\(shard.index)",
                    "shard_count": "\(shard.count)",
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

    /// One target per account and Region, published as the accounts' Regions become known: the configured Regions
    /// at once; with `regions: enabled`, the Regions read last time at once, then each account's as its
    /// `ListRegions` answers (under a deadline of its own), at most once per ``publishInterval``, so that accounts
    /// that hang delay only themselves. An account whose Regions cannot be read keeps those read before (none the
    /// first time) and is counted. Returns the number of targets.
    private func publishTargets(of accounts: [String]) async throws(ExporterConfigurationError) -> Int {
        var targetsByAccount: [String: [TargetSource]] = [:]
        func setTargets(of account: String, regions: [String]) throws(ExporterConfigurationError) {
            let provider = factory.role(for: memberRole(account), durationSeconds: settings.durationSeconds)
            var seen = Set<String>()
            var sources: [TargetSource] = []
            for region in regions where seen.insert(region).inserted {
                let target = CollectionTarget(
                    name: "\(account)/\(region)", region: region, accountID: account, staticLabels: settings.labels)
                sources.append(
                    try factory.source(
                        target, provider: provider,
                        transport: factory.rateLimitedTransport(account: account, region: region)))
            }
            targetsByAccount[account] = sources
        }
        func publish() -> Int {
            let sources = accounts.flatMap { targetsByAccount[$0] ?? [] }
            targets.replaceDiscovered(sources)
            return sources.count
        }

        factory.discovered(accounts: Set(accounts))
        if let configured = settings.regions {
            for account in accounts { try setTargets(of: account, regions: configured) }
            return publish()
        }
        let current = Set(accounts)
        let known = state.withLock { state in
            state.regions = state.regions.filter { current.contains($0.key) }
            return state.regions
        }
        for (account, regions) in known { try setTargets(of: account, regions: regions) }
        let clock = factory.clock
        _ = publish()
        var failure: ExporterConfigurationError?
        await withTaskGroup(of: LookupEvent.self) { group in
            var running = 0
            var queued = accounts[...]
            // Armed when an account's new Regions wait to be published; publishing is cheap, but not once per
            // account of thousands.
            var publishArmed = false
            while true {
                while running < maxConcurrency, let account = queued.popFirst() {
                    group.addTask { .regions(account, await self.enabledRegions(of: account)) }
                    running += 1
                }
                guard running > 0, let event = await group.next() else { break }
                switch event {
                case .publish:
                    _ = publish()
                    publishArmed = false
                case .regions(let account, let regions):
                    running -= 1
                    guard let regions else { continue }
                    state.withLock { $0.regions[account] = regions }
                    guard regions != known[account] else { continue }
                    do throws(ExporterConfigurationError) {
                        try setTargets(of: account, regions: regions)
                    } catch {
                        failure = failure ?? error
                    }
                    if !publishArmed {
                        publishArmed = true
                        group.addTask {
                            try? await clock.sleep(for: Self.publishInterval)
                            return .publish
                        }
                    }
                }
            }
            // The last lookup is in: what waits to be published is published below, at once.
            group.cancelAll()
        }
        if let failure { throw failure }
        return publish()
    }

    /// An account's enabled Regions, under a deadline of its own; `nil` when they cannot be read (logged and
    /// counted).
    private func enabledRegions(of account: String) async -> [String]? {
        let endpoint = accountEndpoint
        do {
            let regions = try await accountClient(account).enabledRegions(
                deadline: factory.clock.now().advanced(by: timeout))
            if regions.refused > 0 {
                accountErrors[.invalidRegions]?.increment()
                logger.warning(
                    "ListRegions listed names that are not Regions; they are left out",
                    metadata: ["account_id": "\(account)", "left_out": "\(regions.refused)"])
            }
            if regions.beyondLimit > 0 {
                accountErrors[.tooManyRegions]?.increment()
                logger.warning(
                    "ListRegions listed more Regions than an account may have watched; the rest are left out",
                    metadata: [
                        "account_id": "\(account)", "limit": "\(AccountClient.maxRegions)",
                        "left_out": "\(regions.beyondLimit)",
                    ])
            }
            return regions.names
        } catch {
            let awsError = error as? AWSClientError
            if let pagination = awsError?.paginationError {
                factory.metrics.recordError(
                    region: endpoint.region, accountID: account, operation: pagination.operation,
                    exception: pagination.exceptionName)
            }
            if awsError?.isCancellation == true { return nil }
            accountErrors[.regionsUnreadable]?.increment()
            logger.warning(
                "cannot read an account's enabled regions; keeping the last known",
                metadata: [
                    "account_id": "\(account)", "error": "\(NetworkText.sanitized(String(describing: error)))",
                ])
            return nil
        }
    }

    private func accountClient(_ account: String) -> AccountClient {
        let endpoint = accountEndpoint
        return AccountClient(
            client: AWSJSONClient(
                sender: factory.sender(
                    endpoint,
                    provider: factory.role(for: memberRole(account), durationSeconds: settings.durationSeconds),
                    transport: factory.rateLimitedTransport(account: account, region: endpoint.region),
                    observer: factory.metrics.requestObserver(region: endpoint.region, accountID: { account })),
                targetPrefix: ""))
    }

    /// Discovers at once, then every `refresh_interval` until graceful shutdown.
    package func run() async {
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
