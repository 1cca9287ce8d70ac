import AWSClient
import Logging
import Synchronization

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Builds the sources of many targets so that they share what should be shared: one HTTP transport (connections to
/// a regional endpoint are reused across accounts), one credentials cache per role (an `AssumeRole` per credential
/// lifetime, not per collection), one token bucket per account and Region (AWS's request quotas are per account and
/// Region: throttling there slows only those calls, and an account's Regions do not wait for each other), one retry
/// quota per regional endpoint (an endpoint failing for every account costs about one call per target).
package final class TargetSourceFactory: Sendable {
    package let configuration: ExporterConfiguration
    /// The exporter's own identity: used as it is by targets without a role, and to assume the others' roles.
    package let baseProvider: any AWSCredentialProvider
    /// Every AWS call goes through it: one set of connections, one retry quota per regional endpoint whatever
    /// account a call signs for, one clock.
    package let client: AWSClient
    package let metrics: ExporterSelfMetrics
    package let clock: AWSClock
    package let logger: Logger
    /// The environment endpoints of other services are read from (`AWS_ENDPOINT_URL_<SERVICE>`).
    package let environment: [String: String]
    /// The token buckets' settings; `nil` paces nothing.
    let pacing: TargetsConfiguration.AccountPacing?
    /// The accounts this replica collects, fixed at startup: a reloaded file's `shard` applies after a restart.
    let shard: ShardAssignment
    /// Reads instance details for every target, with one cache of descriptions shared by the targets of their
    /// owner; `nil` with instance details off.
    let describer: InstanceDescriber?
    private let shared = Mutex(Shared())

    private struct Shared {
        var roles: [String: (accountID: String, provider: any AWSCredentialProvider)] = [:]
        var buckets: [BucketKey: TokenBucket] = [:]
        /// Accounts whose role, bucket and series stay whatever the targets: the exporter's own (empty) and
        /// discovery's.
        var pinnedAccounts: Set<String> = [""]
        /// The accounts the last discovery kept, with targets or not: an account whose Regions cannot be read has
        /// none, and its `ListRegions` errors and role must stay.
        var discoveredAccounts: Set<String> = []
        /// The exporter's own account once a target without one has learned it (STS `GetCallerIdentity`): targets
        /// made afterwards, such as those of a reloaded file, start with it instead of asking again, and so are
        /// known at once to be the account a discovered target may also watch.
        var ownAccount: String?
    }

    /// A token bucket's account and Region; targets whose account is learned use ``selfAccount``.
    struct BucketKey: Hashable {
        let account: String
        let region: String
    }

    static let selfAccount = "self"

    package init(
        configuration: ExporterConfiguration, baseProvider: any AWSCredentialProvider,
        client: AWSClient, metrics: ExporterSelfMetrics, environment: [String: String] = [:], logger: Logger
    ) {
        self.configuration = configuration
        self.environment = environment
        pacing = configuration.targets.accountPacing
        shard = configuration.targets.shard
        self.baseProvider = baseProvider
        self.client = client
        self.metrics = metrics
        self.clock = client.configuration.clock
        self.logger = logger
        let targets = configuration.targets
        describer =
            configuration.collection.instanceDetails
            ? InstanceDescriber(
                cache: InstanceDetailsCache(
                    reuse: targets.mode == .background ? targets.interval / 2 : configuration.collection.minInterval,
                    clock: client.configuration.clock),
                metrics: metrics, logger: logger)
            : nil
    }

    /// Every target of `targets` this replica collects, one per entry and region, in file order: those of another
    /// shard's accounts are left out.
    package func sources(for targets: TargetsConfiguration) throws(ExporterConfigurationError) -> [TargetSource] {
        var sources: [TargetSource] = []
        var otherReplicas = 0
        let ownAccount = shared.withLock { $0.ownAccount }
        for (given, entry) in targets.collectionTargets {
            // Only a target without a role lacks an account: it is the exporter's own identity's.
            let target = given.accountID.isEmpty ? ownAccount.map { given.withAccountID($0) } ?? given : given
            guard shard.owns(accountID: target.accountID) else {
                otherReplicas += 1
                continue
            }
            let provider = entry.role.map { role(for: $0, durationSeconds: entry.durationSeconds) } ?? baseProvider
            // Targets whose account is learned share the exporter's own bucket, keyed apart from any account ID.
            sources.append(
                try source(
                    target, provider: provider,
                    transport: rateLimitedTransport(
                        account: target.accountID.isEmpty ? Self.selfAccount : target.accountID, region: target.region)
                ))
        }
        if otherReplicas > 0 {
            let metadata: Logger.Metadata = [
                "targets_here": "\(sources.count)", "targets_of_other_replicas": "\(otherReplicas)",
                "shard_index": "\(shard.index)", "shard_count": "\(shard.count)",
            ]
            if sources.isEmpty && targets.discovery == nil {
                logger.warning(
                    "every configured target's account is another replica's: this replica watches nothing",
                    metadata: metadata)
            } else {
                logger.info("configured targets of other replicas' accounts are left to them", metadata: metadata)
            }
        }
        return sources
    }

    /// A target's source over `provider` and `transport`.
    package func source(
        _ target: CollectionTarget, provider: any AWSCredentialProvider, transport: any AWSHTTPTransport
    ) throws(ExporterConfigurationError) -> TargetSource {
        let account = AccountIdentity(known: target.accountID)
        let observer = metrics.requestObserver(region: target.region, accountID: { account.current }, scope: .target)
        let ssoAdmin = AWSJSONClient(
            sender: sender(
                try configuration.endpoint(forRegion: target.region), provider: provider, transport: transport,
                observer: observer),
            targetPrefix: SSOAdminClient.targetPrefix)
        let ssoAdminClient = SSOAdminClient(client: ssoAdmin)
        let paginator = ListInstancesPaginator(client: ssoAdminClient, pageSize: configuration.aws.pageSize)
        let instanceDetails = describer.map { ($0, ssoAdminClient) }
        guard target.accountID.isEmpty else {
            metrics.registerTarget(target)
            return TargetSource(
                target: target, account: account, listInstances: { try await paginator.collectAll(deadline: $0) },
                instanceDetails: instanceDetails)
        }
        // Only a target without a known account needs STS to learn it.
        let sts = STSClient(
            sender: sender(configuration.aws.stsEndpoint, provider: provider, transport: transport, observer: observer))
        return TargetSource(
            target: target, account: account,
            listInstances: { try await paginator.collectAll(deadline: $0) },
            instanceDetails: instanceDetails,
            learnAccountID: { [self] deadline in
                let learned = try await sts.getCallerIdentity(deadline: deadline).account
                if AccountID.isValid(learned) { shared.withLock { $0.ownAccount = learned } }
                return learned
            })
    }

    func sender(
        _ endpoint: AWSServiceEndpoint, provider: any AWSCredentialProvider, transport: any AWSHTTPTransport,
        observer: any AWSRequestObserver
    ) -> AWSRequestSender {
        client.sender(for: endpoint, credentials: provider, observer: observer, through: transport)
    }

    /// One refreshing provider per role (and external ID and session name), shared by the role's regions.
    func role(for role: ExporterConfiguration.AssumeRoleOptions, durationSeconds: Int?)
        -> any AWSCredentialProvider
    {
        let key = [
            role.roleARN, role.externalID ?? "", role.roleSessionName ?? "", durationSeconds.map(String.init) ?? "",
        ]
        .joined(separator: "\u{0}")
        return shared.withLock { shared in
            if let existing = shared.roles[key] { return existing.provider }
            let accountID = role.accountID
            let sts = STSClient(
                sender: sender(
                    configuration.aws.stsEndpoint, provider: baseProvider, transport: client.transport,
                    observer: metrics.requestObserver(
                        region: configuration.aws.stsEndpoint.region, accountID: { accountID })))
            let request = AssumeRoleRequest(
                roleARN: role.roleARN,
                roleSessionName: role.roleSessionName
                    ?? "\(BuildInfo.name)-\(Int(clock.wallTime().timeIntervalSince1970))",
                externalID: role.externalID, durationSeconds: durationSeconds)
            let source = AssumeRoleCredentialSource(request: request, sts: sts, clock: clock)
            let observer = metrics.credentialsObserver(accountID: accountID)
            metrics.registerCredentialProvider("assume-role", accountID: accountID)
            let provider = RefreshingCredentialProvider(
                name: "assume-role", clock: clock, observer: observer, fetch: { try await source.fetch() })
            shared.roles[key] = (accountID, provider)
            return provider
        }
    }

    /// Keeps `accountID`'s role and bucket, and its series, whatever the targets (discovery's own account).
    func pin(accountID: String) {
        shared.withLock { _ = $0.pinnedAccounts.insert(accountID) }
    }

    /// Keeps the role, bucket and series of every account the last discovery kept, targets or not.
    func discovered(accounts: Set<String>) {
        shared.withLock { $0.discoveredAccounts = accounts }
    }

    /// After the watched targets changed: the series, credentials caches and token buckets of accounts no target
    /// has any more go, so that an organization whose accounts come and go holds only what it watches now.
    func targetsChanged(_ sources: [TargetSource]) {
        let kept = shared.withLock { $0.pinnedAccounts.union($0.discoveredAccounts) }
        metrics.retainSeries(of: sources, keepingAccounts: kept)
        let accounts = kept.union(sources.map(\.account.current))
        shared.withLock { shared in
            shared.roles = shared.roles.filter { accounts.contains($0.value.accountID) }
            shared.buckets = shared.buckets.filter {
                $0.key.account == Self.selfAccount || accounts.contains($0.key.account)
            }
        }
    }

    /// The shared transport through the token bucket of `account` in `region`.
    func rateLimitedTransport(account: String, region: String) -> any AWSHTTPTransport {
        guard let pacing else { return client.transport }
        let key = BucketKey(account: account, region: region)
        let bucket = shared.withLock { shared in
            if let existing = shared.buckets[key] { return existing }
            let made = TokenBucket(rate: pacing.requestsPerSecond, burst: pacing.burst, clock: clock)
            shared.buckets[key] = made
            return made
        }
        return RateLimitedTransport(base: client.transport, bucket: bucket, clock: clock)
    }
}
