import AWSClient
import Logging
import Synchronization

/// What `DescribeInstance` and sso-admin `ListRegions` said of one instance.
package struct InstanceDetails: Sendable, Equatable {
    package var encryption: EncryptionDetails?
    package var regions: [InstanceRegion]
    /// Names `ListRegions` gave that are not Regions, left out of ``regions``: the details are then incomplete.
    package var refusedRegions = 0

    package init(encryption: EncryptionDetails?, regions: [InstanceRegion], refusedRegions: Int = 0) {
        self.encryption = encryption
        self.regions = regions
        self.refusedRegions = refusedRegions
    }
}

/// The details one collection read: of each instance the target's account owns, by its ARN, and whether every detail
/// call succeeded. An instance whose calls failed has no entry.
package struct InstanceDetailsReport: Sendable, Equatable {
    package var byARN: [String: InstanceDetails] = [:]
    package var succeeded = true

    package init(byARN: [String: InstanceDetails] = [:], succeeded: Bool = true) {
        self.byARN = byARN
        self.succeeded = succeeded
    }
}

/// Reads the details of the instances a target's account owns, after `ListInstances`, in the same collection and
/// under its deadline. An account cannot describe an instance it does not own, so the organization instance that
/// every member account lists is described by the management account's targets only; targets of the owner in
/// several Regions share one description (``InstanceDetailsCache``).
package struct InstanceDescriber: Sendable {
    let client: SSOAdminClient
    let cache: InstanceDetailsCache
    let metrics: ExporterSelfMetrics
    let logger: Logger

    /// An account owns one instance of IAM Identity Center; a listing that gives it more than this is a broken
    /// service, and the rest are left undescribed (`TooManyItems`).
    package static let maxDescribedInstances = 10

    package init(client: SSOAdminClient, cache: InstanceDetailsCache, metrics: ExporterSelfMetrics, logger: Logger) {
        self.client = client
        self.cache = cache
        self.metrics = metrics
        self.logger = logger
    }

    /// The ARNs `target`'s account owns among `instances`, each once, in listing order: only ARNs that can be sent
    /// as they are (the model's length, printable ASCII), so that the label of the listed instance is the ARN sent.
    static func ownedARNs(_ instances: [InstanceMetadata], accountID: String) -> [String] {
        guard !accountID.isEmpty else { return [] }
        var seen: Set<String> = []
        var owned: [String] = []
        for instance in instances where instance.ownerAccountId == accountID {
            guard let arn = instance.instanceArn, !arn.isEmpty,
                arn.utf8.count <= SSOAdminClient.maxInstanceARNLength,
                arn.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }), seen.insert(arn).inserted
            else { continue }
            owned.append(arn)
        }
        return owned
    }

    /// Never throws: a failure is counted (the calls' own errors by the request observer, a listing that would never
    /// end or names that are not Regions here), logged, and leaves that instance without details.
    package func describe(
        _ instances: [InstanceMetadata], of target: CollectionTarget, deadline: MonotonicInstant
    ) async -> InstanceDetailsReport {
        let owned = Self.ownedARNs(instances, accountID: target.accountID)
        var report = InstanceDetailsReport()
        guard !owned.isEmpty else { return report }
        for operation in [SSOAdminClient.describeInstanceOperation.name, SSOAdminClient.listRegionsOperation.name] {
            metrics.register(
                operation: operation, modeledErrors: SSOAdminClient.modeledErrors, region: target.region,
                accountID: target.accountID)
        }
        if owned.count > Self.maxDescribedInstances {
            metrics.recordError(
                target: target, operation: SSOAdminClient.describeInstanceOperation.name,
                exception: PaginationError.tooManyItemsExceptionName)
            report.succeeded = false
        }
        for arn in owned.prefix(Self.maxDescribedInstances) {
            if let details = await cache.details(
                of: arn, patience: deadline, fetch: { await fetch(arn, target, deadline) })
            {
                report.byARN[arn] = details
                if details.refusedRegions > 0 { report.succeeded = false }
            } else {
                report.succeeded = false
            }
        }
        return report
    }

    private func fetch(_ arn: String, _ target: CollectionTarget, _ deadline: MonotonicInstant) async
        -> InstanceDetails?
    {
        var operation = SSOAdminClient.describeInstanceOperation.name
        do {
            let described = try await client.describeInstance(arn: arn, deadline: deadline)
            operation = SSOAdminClient.listRegionsOperation.name
            let regions = try await client.listRegions(instanceArn: arn, deadline: deadline)
            if regions.refused > 0 {
                metrics.recordError(target: target, operation: operation, exception: "InvalidResponse")
                logger.warning(
                    "ListRegions listed names that are not Regions; they are left out",
                    metadata: ["target": "\(target.name)", "instance_arn": "\(arn)", "left_out": "\(regions.refused)"])
            }
            return InstanceDetails(
                encryption: described.encryption, regions: regions.regions, refusedRegions: regions.refused)
        } catch {
            if let pagination = (error as? AWSClientError)?.paginationError {
                metrics.recordError(target: target, operation: operation, exception: pagination.exceptionName)
            }
            if (error as? AWSClientError)?.isCancellation != true {
                logger.warning(
                    "instance details could not be read; the instance's other series are still reported",
                    metadata: [
                        "target": "\(target.name)", "instance_arn": "\(arn)", "operation": "\(operation)",
                        "error": "\(error)",
                    ])
            }
            return nil
        }
    }
}

/// One description per instance at a time, and a recent one reused: the owner's targets in several Regions list the
/// same instance, and describe it once between them.
package final class InstanceDetailsCache: Sendable {
    /// How long a description is reused: half the background interval, or `--collect.min-interval` on scrape.
    let reuse: Duration
    private let clock: AWSClock
    private let flights = SingleFlight<String, InstanceDetails?>()
    private let recent = Mutex<[String: (details: InstanceDetails, at: MonotonicInstant)]>([:])
    /// Descriptions kept at most; past it the oldest half goes (an organization has one instance per account).
    static let capacity = 10_000

    package init(reuse: Duration, clock: AWSClock) {
        self.reuse = reuse
        self.clock = clock
    }

    /// A description of `arn` younger than ``reuse``, the one in flight, or a new one by `fetch`; `nil` when it
    /// failed or `patience` passed first.
    func details(
        of arn: String, patience deadline: MonotonicInstant, fetch: () async -> InstanceDetails?
    ) async -> InstanceDetails? {
        let now = clock.now()
        if reuse > .zero, let kept = recent.withLock({ $0[arn] }), kept.at.duration(to: now) < reuse {
            return kept.details
        }
        guard let ticket = flights.join(arn) else { return nil }
        if ticket.leads {
            let details = await fetch()
            if let details, reuse > .zero { store(details, for: arn) }
            flights.finish(arn, with: details)
        }
        return await flights.wait(ticket, patience: max(.zero, clock.now().duration(to: deadline))) ?? nil
    }

    /// Descriptions kept now, for tests.
    var kept: Int { recent.withLock { $0.count } }

    private func store(_ details: InstanceDetails, for arn: String) {
        let now = clock.now()
        recent.withLock { recent in
            // Descriptions past their reuse are dropped on every store, so ARNs that disappear do not stay.
            recent = recent.filter { $0.value.at.duration(to: now) < reuse }
            if recent.count >= Self.capacity { recent = [:] }
            recent[arn] = (details, now)
        }
    }
}
