import AWSClient
import Logging
import Synchronization

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// How collections reach one target: its instances, and its account when the configuration does not name it.
package struct TargetSource: Sendable {
    package typealias ListInstances =
        @Sendable (MonotonicInstant) async throws -> (
            instances: [InstanceMetadata], pages: Int
        )

    package let target: CollectionTarget
    package let listInstances: ListInstances
    /// Who reads the details of the instances the target's account owns (`DescribeInstance`, sso-admin
    /// `ListRegions`), shared by every target, and the target's own client to call them with; `nil` with
    /// `--no-collect.instance-details` (`collection.instance_details: false`): `ListInstances` only. Not a closure
    /// per target: its context would be an allocation per target (0.9 MB for 6,000).
    let instanceDetails: (describer: InstanceDescriber, client: SSOAdminClient)?
    let account: AccountIdentity

    /// - Parameters:
    ///   - account: shared with the target's request observer, so its calls are counted under the account once known.
    ///   - learnAccountID: asked (STS `GetCallerIdentity`) when `target` has no account ID, until it answers.
    package init(
        target: CollectionTarget,
        account: AccountIdentity? = nil,
        listInstances: @escaping ListInstances,
        instanceDetails: (describer: InstanceDescriber, client: SSOAdminClient)? = nil,
        learnAccountID: (@Sendable (MonotonicInstant) async throws -> String)? = nil
    ) {
        self.target = target
        self.listInstances = listInstances
        self.instanceDetails = instanceDetails
        self.account = account ?? AccountIdentity(known: target.accountID)
        self.learnAccountID = learnAccountID
    }

    let learnAccountID: (@Sendable (MonotonicInstant) async throws -> String)?

    /// The target with its account ID once learned.
    package var currentTarget: CollectionTarget {
        target.accountID.isEmpty ? target.withAccountID(account.current) : target
    }
}

/// A target's account ID: given, or learned once and then kept.
package final class AccountIdentity: Sendable {
    private let learned: Mutex<String>

    package init(known: String) {
        learned = Mutex(known)
    }

    /// The account ID, empty while not known.
    package var current: String { learned.withLock { $0 } }

    /// The account, and whether this call learned it.
    func resolve(
        deadline: MonotonicInstant, learn: (@Sendable (MonotonicInstant) async throws -> String)?
    ) async throws -> (account: String, learnedNow: Bool) {
        let known = current
        guard known.isEmpty, let learn else { return (known, false) }
        let account = try await learn(deadline)
        guard AccountID.isValid(account) else {
            throw AWSClientError.invalidResponse("GetCallerIdentity returned an account that is not 12 digits")
        }
        learned.withLock { $0 = account }
        return (account, true)
    }
}

/// Collects one target, once: lists its instances by the deadline and turns whatever happens into a snapshot.
/// It never throws and keeps no state between collections; the schedulers decide when to call it.
package struct TargetCollector: Sendable {
    private let metrics: ExporterSelfMetrics
    private let clock: AWSClock
    /// Where collecting tasks should run: the transport's loops, so that a call's hops stay on one thread.
    let taskExecutor: (any TaskExecutor)?
    /// The accounts this replica collects: a target that learns another's account lists nothing.
    private let shard: ShardAssignment
    private let logger: Logger

    /// - Parameter taskExecutor: where the schedulers start collecting tasks, such as the transport's
    ///   ``AWSClient/EventLoopGroupTaskExecutor``; `nil` for the default.
    package init(
        metrics: ExporterSelfMetrics,
        clock: AWSClock = .continuous,
        taskExecutor: (any TaskExecutor)? = nil,
        shard: ShardAssignment = .whole,
        logger: Logger
    ) {
        self.metrics = metrics
        self.clock = clock
        self.taskExecutor = taskExecutor
        self.shard = shard
        self.logger = logger
    }

    /// Collects `source` on the caller's executor. The schedulers start each collecting task on ``taskExecutor``
    /// rather than this switching to it: a preference pushed and popped per collection showed in the per-call
    /// profile.
    package func collect(_ source: TargetSource, deadline: MonotonicInstant) async -> CollectionSnapshot {
        let startedAt = clock.wallTime()
        let started = clock.now()
        var target = source.target
        let outcome: CollectionSnapshot.Outcome
        var details: InstanceDetailsReport?
        var learning = false
        do {
            learning = true
            let (account, learnedNow) = try await source.account.resolve(
                deadline: deadline, learn: source.learnAccountID)
            learning = false
            target = target.accountID.isEmpty ? target.withAccountID(account) : target
            guard shard.owns(accountID: account) else {
                logger.info(
                    "the target's account belongs to another shard; it is not watched here",
                    metadata: [
                        "target": "\(target.name)", "account_id": "\(account)", "shard_index": "\(shard.index)",
                        "shard_count": "\(shard.count)",
                        "owner_index": "\(ShardAssignment.shard(of: account, count: shard.count))",
                    ])
                let finished = clock.now()
                return CollectionSnapshot(
                    target: target, outcome: .failure(.anotherShard("the account is another replica's")),
                    collectedAt: startedAt, duration: started.duration(to: finished), finishedAt: finished)
            }
            // Its series are made visible once, when the account becomes known, not on every collection.
            if learnedNow { metrics.registerTarget(target) }
            let (instances, pages) = try await source.listInstances(deadline)
            // Details are extra: their failures are counted and leave the instance's other series as they are.
            if let (describer, client) = source.instanceDetails {
                details = await describer.describe(instances, of: target, through: client, deadline: deadline)
            }
            outcome = .success(instances: instances, pages: pages)
        } catch let error as AWSClientError {
            // Failed calls were counted attempt by attempt; pages that would never end are counted here.
            if let pagination = error.paginationError {
                metrics.recordError(
                    target: target, operation: pagination.operation, exception: pagination.exceptionName)
            }
            outcome = .failure(.aws(error))
        } catch {
            outcome = .failure(.unexpected(String(describing: error)))
        }
        let finished = clock.now()
        if case .failure(.aws(let error)) = outcome, error.isCancellation {
            // Shutdown cancels every collection in flight: the scheduler says so once, not once per target.
            logger.debug("collection cancelled", metadata: ["target": "\(target.name)"])
        } else if case .failure(let failure) = outcome {
            var metadata: Logger.Metadata = [
                "target": "\(target.name)", "region": "\(target.region)", "account_id": "\(target.accountID)",
                "error": "\(failure)",
            ]
            if learning, !Self.isCredentialsFailure(failure) {
                // Where STS cannot be reached (an sso-admin-only VPC endpoint, an emulator), the account must be
                // given: say exactly where.
                metadata["fix"] = .string(
                    "the target's account is learned from STS GetCallerIdentity, which failed; give it with "
                        + "--aws.account-id (flags only) or account_id: on the target in --config.file to skip the call"
                )
            }
            logger.warning("collection failed", metadata: metadata)
        }
        return CollectionSnapshot(
            target: target, outcome: outcome, collectedAt: startedAt, duration: started.duration(to: finished),
            finishedAt: finished, details: details)
    }

    /// Whether a collection failed for want of credentials, before any call to AWS was sent: no use then pointing at
    /// STS.
    static func isCredentialsFailure(_ failure: CollectionFailure) -> Bool {
        if case .aws(let error) = failure { return error.credentialsError != nil }
        return false
    }

    /// A snapshot for a collection that did not run or was abandoned, such as a scrape whose deadline passed first.
    func failure(_ reason: String, of source: TargetSource, waitStarted: MonotonicInstant, startedAt: Date)
        -> CollectionSnapshot
    {
        let now = clock.now()
        return CollectionSnapshot(
            target: source.target.withAccountID(source.account.current),
            outcome: .failure(.notCollected(reason)),
            collectedAt: startedAt, duration: waitStarted.duration(to: now), finishedAt: now)
    }

    var monotonicClock: AWSClock { clock }
    var now: Date { clock.wallTime() }
}
