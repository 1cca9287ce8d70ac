import AWSClient
import Logging
import Synchronization

/// What `DescribeInstance` and sso-admin `ListRegions` said of one instance.
package struct InstanceDetails: Sendable, Equatable {
    package var encryption: EncryptionDetails?
    package var regions: [InstanceRegion]
    /// Entries `ListRegions` gave that are left out of ``regions`` (names that are not Regions, a Region repeated
    /// with different values): the details are then incomplete.
    package var leftOut = 0

    package init(encryption: EncryptionDetails?, regions: [InstanceRegion], leftOut: Int = 0) {
        self.encryption = encryption
        self.regions = regions
        self.leftOut = leftOut
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
package final class InstanceDescriber: Sendable {
    let cache: InstanceDetailsCache
    let metrics: ExporterSelfMetrics
    let logger: Logger

    /// An account owns one instance of IAM Identity Center; a listing that gives it more than this is a broken
    /// service, and the rest are left undescribed (`TooManyItems`).
    package static let maxDescribedInstances = 10

    /// The names the describer's own findings are counted under, those the AWS client gives the same failures
    /// (an answer that is not the model's, a call that ran out of time).
    static let invalidResponse = "InvalidResponse"
    static let timeout = "Timeout"

    package init(cache: InstanceDetailsCache, metrics: ExporterSelfMetrics, logger: Logger) {
        self.cache = cache
        self.metrics = metrics
        self.logger = logger
    }

    /// The ARNs `target`'s account owns among `instances`, each once, in listing order, and how many owned ARNs
    /// cannot be sent as they are (longer than the model allows, or not printable ASCII): only an ARN sent as listed
    /// is the label of the listed instance.
    static func ownedARNs(_ instances: [InstanceMetadata], accountID: String) -> (sendable: [String], unsendable: Int) {
        guard !accountID.isEmpty else { return ([], 0) }
        var seen: Set<String> = []
        var owned: [String] = []
        var unsendable = 0
        for instance in instances where instance.ownerAccountId == accountID {
            guard let arn = instance.instanceArn, !arn.isEmpty, seen.insert(arn).inserted else { continue }
            guard arn.utf8.count <= SSOAdminClient.maxInstanceARNLength,
                arn.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f })
            else {
                unsendable += 1
                continue
            }
            owned.append(arn)
        }
        return (owned, unsendable)
    }

    /// Never throws: a failure is counted under `target`'s labels (its own calls' errors by the request observer; a
    /// listing that would never end, entries left out, or the failure of a description another target read for it,
    /// here), logged, and leaves that instance without details.
    package func describe(
        _ instances: [InstanceMetadata], of target: CollectionTarget, through client: SSOAdminClient,
        deadline: MonotonicInstant
    ) async -> InstanceDetailsReport {
        let (owned, unsendable) = Self.ownedARNs(instances, accountID: target.accountID)
        var report = InstanceDetailsReport()
        guard !owned.isEmpty || unsendable > 0 else { return report }
        for operation in [SSOAdminClient.describeInstanceOperation.name, SSOAdminClient.listRegionsOperation.name] {
            metrics.register(
                operation: operation, modeledErrors: SSOAdminClient.modeledErrors, target: target)
        }
        let describeInstance = SSOAdminClient.describeInstanceOperation.name
        if unsendable > 0 {
            metrics.recordError(target: target, operation: describeInstance, exception: Self.invalidResponse)
            logger.warning(
                "ListInstances listed instance ARNs of this account that cannot be sent; they are not described",
                metadata: ["target": "\(target.name)", "left_out": "\(unsendable)"])
            report.succeeded = false
        }
        if owned.count > Self.maxDescribedInstances {
            metrics.recordError(
                target: target, operation: describeInstance, exception: PaginationError.tooManyItemsExceptionName)
            logger.warning(
                "ListInstances listed more instances of this account than are described; the rest are not",
                metadata: [
                    "target": "\(target.name)", "owned": "\(owned.count)",
                    "described": "\(Self.maxDescribedInstances)",
                ])
            report.succeeded = false
        }
        for arn in owned.prefix(Self.maxDescribedInstances) {
            let (outcome, led) = await cache.details(
                of: arn, patience: deadline, fetch: { await fetch(arn, target, client, deadline) })
            switch outcome {
            case .described(let details):
                report.byARN[arn] = details
                guard details.leftOut > 0 else { break }
                report.succeeded = false
                // As for a failure: every target that reports an incomplete listing has counted why.
                if !led {
                    metrics.recordError(
                        target: target, operation: SSOAdminClient.listRegionsOperation.name,
                        exception: Self.invalidResponse)
                }
            case .failed(let operation, let exception):
                report.succeeded = false
                // The leader's calls counted its failure; a target that shared them counts it under its own labels.
                if !led, let exception {
                    metrics.recordError(target: target, operation: operation, exception: exception)
                }
            case nil:
                report.succeeded = false
                if !Task.isCancelled {
                    metrics.recordError(target: target, operation: describeInstance, exception: Self.timeout)
                }
            }
        }
        return report
    }

    private func fetch(
        _ arn: String, _ target: CollectionTarget, _ client: SSOAdminClient, _ deadline: MonotonicInstant
    ) async -> InstanceDetailsOutcome {
        var operation = SSOAdminClient.describeInstanceOperation.name
        do {
            let described = try await client.describeInstance(arn: arn, deadline: deadline)
            operation = SSOAdminClient.listRegionsOperation.name
            let regions = try await client.listRegions(instanceArn: arn, deadline: deadline)
            if regions.refused > 0 || regions.conflicting > 0 {
                metrics.recordError(target: target, operation: operation, exception: Self.invalidResponse)
                logger.warning(
                    """
                    ListRegions listed names that are not Regions, or a Region twice with different values; those \
                    entries are left out
                    """,
                    metadata: [
                        "target": "\(target.name)", "instance_arn": "\(arn)", "not_regions": "\(regions.refused)",
                        "conflicting": "\(regions.conflicting)",
                    ])
            }
            return .described(
                InstanceDetails(
                    encryption: described.encryption, regions: regions.regions,
                    leftOut: regions.refused + regions.conflicting))
        } catch {
            let clientError = error as? AWSClientError
            if let pagination = clientError?.paginationError {
                metrics.recordError(target: target, operation: operation, exception: pagination.exceptionName)
            }
            if clientError?.isCancellation == true { return .failed(operation: operation, exception: nil) }
            logger.warning(
                "instance details could not be read; the instance's other series are still reported",
                metadata: [
                    "target": "\(target.name)", "instance_arn": "\(arn)", "operation": "\(operation)",
                    "error": "\(error)",
                ])
            return .failed(operation: operation, exception: clientError?.exceptionName ?? Self.invalidResponse)
        }
    }
}

/// How one description ended, shared with every target that waited for it.
enum InstanceDetailsOutcome: Sendable, Equatable {
    case described(InstanceDetails)
    /// `exception` is the name the failure is counted under; `nil` when the collection was cancelled.
    case failed(operation: String, exception: String?)
}

/// One description per instance at a time, and a recent one reused: the owner's targets in several Regions list the
/// same instance, and describe it once between them.
package final class InstanceDetailsCache: Sendable {
    /// How long a description is reused: half the background interval, or `--collect.min-interval` on scrape.
    let reuse: Duration
    private let clock: AWSClock
    private let flights = SingleFlight<String, InstanceDetailsOutcome>()
    private let recent = Mutex<[String: (details: InstanceDetails, at: MonotonicInstant)]>([:])
    /// Descriptions kept at most; past it the oldest half goes (an organization has one instance per account).
    static let capacity = 10_000

    package init(reuse: Duration, clock: AWSClock) {
        self.reuse = reuse
        self.clock = clock
    }

    /// A description of `arn` younger than ``reuse``, the outcome of the one in flight, or a new one by `fetch`, and
    /// whether this caller fetched it; `nil` when `patience` passed first or the cache is shut down.
    func details(
        of arn: String, patience deadline: MonotonicInstant, fetch: () async -> InstanceDetailsOutcome
    ) async -> (outcome: InstanceDetailsOutcome?, led: Bool) {
        let now = clock.now()
        if reuse > .zero, let kept = recent.withLock({ $0[arn] }), kept.at.duration(to: now) < reuse {
            return (.described(kept.details), false)
        }
        guard let ticket = flights.join(arn) else { return (nil, false) }
        if ticket.leads {
            let outcome = await fetch()
            if case .described(let details) = outcome, reuse > .zero { store(details, for: arn) }
            flights.finish(arn, with: outcome)
        }
        return (await flights.wait(ticket, patience: max(.zero, clock.now().duration(to: deadline))), ticket.leads)
    }

    /// Descriptions kept now, for tests.
    var kept: Int { recent.withLock { $0.count } }

    /// Callers in a flight and not yet answered, for tests.
    var waiting: Int { flights.waiting }

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
