import AWSClient
import Logging
import ServiceLifecycle

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Collects on demand for scrapes: concurrent scrapes share the collection in flight, and with a minimum
/// interval a recent result is reused instead of calling AWS again.
public actor InstanceCollector {
    public nonisolated let target: CollectionTarget
    public nonisolated let minInterval: Duration
    private let listInstances: @Sendable (MonotonicInstant) async throws -> (instances: [InstanceMetadata], pages: Int)
    private let metrics: ExporterSelfMetrics
    private let clock: MonotonicClock
    private let wallClock: @Sendable () -> Date
    private let logger: Logger
    /// How much earlier than the scrape's deadline the collection itself must end, so that a timeout it hits is
    /// counted and reported in the same scrape, which still answers by its deadline. At most a quarter of the budget.
    static let completionGrace: Duration = .milliseconds(250)

    private var latest: CollectionSnapshot?
    private var inFlight: Task<Void, Never>?
    private var waiters: [Int: CheckedContinuation<CollectionSnapshot?, Never>] = [:]
    private var nextWaiterID = 0
    private var shuttingDown = false

    public init(
        target: CollectionTarget,
        paginator: ListInstancesPaginator,
        metrics: ExporterSelfMetrics,
        minInterval: Duration = .zero,
        clock: MonotonicClock = .continuous,
        wallClock: @escaping @Sendable () -> Date = { Date() },
        logger: Logger
    ) {
        self.init(
            target: target,
            listInstances: { try await paginator.collectAll(deadline: $0) },
            metrics: metrics,
            minInterval: minInterval,
            clock: clock,
            wallClock: wallClock,
            logger: logger
        )
    }

    /// Collects with any source of instances; tests and benchmarks pass their own.
    public init(
        target: CollectionTarget,
        listInstances:
            @escaping @Sendable (MonotonicInstant) async throws -> (
                instances: [InstanceMetadata], pages: Int
            ),
        metrics: ExporterSelfMetrics,
        minInterval: Duration = .zero,
        clock: MonotonicClock = .continuous,
        wallClock: @escaping @Sendable () -> Date = { Date() },
        logger: Logger
    ) {
        self.target = target
        self.listInstances = listInstances
        self.metrics = metrics
        self.minInterval = minInterval
        self.clock = clock
        self.wallClock = wallClock
        self.logger = logger
    }

    /// A snapshot no older than the minimum interval, answered by `deadline` whatever AWS does, and at once when
    /// the calling task is cancelled or the exporter shuts down.
    public func snapshot(deadline: MonotonicInstant) async -> CollectionSnapshot {
        let now = clock.now()
        if let latest, minInterval > .zero, latest.finishedAt.advanced(by: minInterval) > now {
            return latest
        }
        let startedAt = wallClock()
        if shuttingDown {
            return failure("the exporter is shutting down", startedAt: startedAt, waitStarted: now)
        }
        if inFlight == nil {
            let remaining = now.duration(to: deadline)
            let collectionDeadline = deadline.advanced(by: .zero - max(.zero, min(Self.completionGrace, remaining / 4)))
            inFlight = Task {
                let snapshot = await self.collect(deadline: collectionDeadline, startedAt: startedAt)
                self.finish(snapshot)
            }
        }
        let id = nextWaiterID
        nextWaiterID += 1
        // A safety net on real time: the collection is bounded by an earlier deadline on the injected clock, so
        // this only fires for a scrape that joined a collection started with a later deadline than its own.
        let patience = now.duration(to: deadline)
        let timeout = Task {
            try? await Task.sleep(for: patience)
            self.expireWaiter(id)
        }
        let result: CollectionSnapshot? = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<CollectionSnapshot?, Never>) in
                if Task.isCancelled {
                    continuation.resume(returning: nil)
                } else {
                    waiters[id] = continuation
                }
            }
        } onCancel: {
            Task { await self.expireWaiter(id) }
        }
        timeout.cancel()
        if let result { return result }
        let reason =
            Task.isCancelled || shuttingDown
            ? "the scrape was cancelled while a collection was running"
            : "scrape deadline passed while a collection was still running"
        return failure(reason, startedAt: startedAt, waitStarted: now)
    }

    /// Stops the collection in flight (its AWS calls are cancelled) and answers every later scrape at once.
    public func shutDown() {
        shuttingDown = true
        inFlight?.cancel()
        let pending = waiters
        waiters.removeAll()
        for continuation in pending.values {
            continuation.resume(returning: nil)
        }
    }

    private func failure(_ reason: String, startedAt: Date, waitStarted: MonotonicInstant) -> CollectionSnapshot {
        CollectionSnapshot(
            target: target,
            outcome: .failure(reason: reason),
            collectedAt: startedAt,
            duration: waitStarted.duration(to: clock.now()),
            finishedAt: clock.now()
        )
    }

    private func collect(deadline: MonotonicInstant, startedAt: Date) async
        -> CollectionSnapshot
    {
        let started = clock.now()
        let outcome: CollectionSnapshot.Outcome
        do {
            let (instances, pages) = try await listInstances(deadline)
            outcome = .success(instances: instances, pages: pages)
        } catch let error as PaginationError {
            metrics.recordError(operation: SSOAdminClient.listInstances, exception: error.exceptionName)
            outcome = .failure(reason: error.description)
        } catch {
            // AWS client errors were already counted attempt by attempt.
            outcome = .failure(reason: String(describing: error))
        }
        let finished = clock.now()
        if case .failure(let reason) = outcome {
            logger.warning(
                "collection failed",
                metadata: ["region": "\(target.region)", "error": "\(reason)"]
            )
        }
        return CollectionSnapshot(
            target: target,
            outcome: outcome,
            collectedAt: startedAt,
            duration: started.duration(to: finished),
            finishedAt: finished
        )
    }

    private func finish(_ snapshot: CollectionSnapshot) {
        latest = snapshot
        inFlight = nil
        let pending = waiters
        waiters.removeAll()
        for continuation in pending.values {
            continuation.resume(returning: snapshot)
        }
    }

    private func expireWaiter(_ id: Int) {
        waiters.removeValue(forKey: id)?.resume(returning: nil)
    }
}

/// Runs for the exporter's lifetime so that graceful shutdown reaches the collector first: in-flight AWS calls are
/// cancelled and waiting scrapes answered, instead of the HTTP server waiting out the AWS timeouts.
extension InstanceCollector: Service {
    public func run() async throws {
        try? await gracefulShutdown()
        shutDown()
    }
}
