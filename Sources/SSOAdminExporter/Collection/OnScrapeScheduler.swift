import AWSClient
import ServiceLifecycle
import Synchronization

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Collects when scraped: concurrent scrapes of a target share the collection in flight, and with a minimum interval
/// a recent result is reused instead of calling AWS again, so two Prometheus replicas do not double the AWS calls.
///
/// Collections run inside ``run()``, in a task group bounded by `maxConcurrency`, so that one outlives the scrape
/// that started it (the next scrape joins it) without an unstructured task. Graceful shutdown cancels them and
/// answers every waiting scrape at once.
package final class OnScrapeScheduler: CollectionScheduler, Service {
    package let targets: TargetSet
    package let minInterval: Duration
    package let maxStale: Duration
    package let maxConcurrency: Int
    /// `collection.empty_region_interval`: a target whose last collection found no instance reuses it this long.
    package let emptyRegionInterval: Duration?
    private let collector: TargetCollector
    private let state = Mutex(State())
    private let requests: AsyncStream<Request>
    private let requestContinuation: AsyncStream<Request>.Continuation

    private struct Request: Sendable {
        let source: TargetSource
        let deadline: MonotonicInstant
    }

    /// How much earlier than the scrape's deadline the collection itself must end, so that a timeout it hits is
    /// counted and reported in the same scrape, which still answers by its deadline. At most a quarter of the budget.
    static let completionGrace: Duration = .milliseconds(250)

    private struct State {
        var histories: [String: TargetHistory] = [:]
    }
    /// Scrapes of a target join the collection in flight for it.
    private let collections = SingleFlight<String, CollectionSnapshot>()

    package init(
        targets: TargetSet, collector: TargetCollector, minInterval: Duration = .zero,
        maxStale: Duration = .zero, maxConcurrency: Int = 16, emptyRegionInterval: Duration? = nil
    ) {
        self.emptyRegionInterval = emptyRegionInterval
        self.targets = targets
        self.collector = collector
        self.minInterval = minInterval
        self.maxStale = maxStale
        self.maxConcurrency = max(1, maxConcurrency)
        (requests, requestContinuation) = AsyncStream.makeStream(of: Request.self)
    }

    package var helpSuffix: String {
        minInterval > .zero ? " May be reused for up to \(minInterval.secondsDouble)s (--collect.min-interval)." : ""
    }

    package func snapshots(deadline: MonotonicInstant) async -> [CollectionSnapshot] {
        let sources = self.sources
        // Targets gone since the last scrape (a reload) leave nothing behind.
        let current = Set(sources.map(\.target.name))
        state.withLock { state in state.histories = state.histories.filter { current.contains($0.key) } }
        if sources.count == 1 {
            let only = await snapshot(of: sources[0], deadline: deadline)
            return only.isAnotherShards ? [] : [only]
        }
        return await withTaskGroup(of: (Int, CollectionSnapshot).self) { group in
            for (position, source) in sources.enumerated() {
                group.addTask { (position, await self.snapshot(of: source, deadline: deadline)) }
            }
            var results = [CollectionSnapshot?](repeating: nil, count: sources.count)
            for await (position, snapshot) in group where !snapshot.isAnotherShards { results[position] = snapshot }
            return results.compactMap { $0 }
        }
    }

    /// `nil` also when the collection learned that the target's account is another replica's: it is not this
    /// replica's to report, and the target is gone from the next lookup.
    package func snapshot(of name: String, deadline: MonotonicInstant) async -> CollectionSnapshot? {
        guard let source = targets.source(named: name) else { return nil }
        let snapshot = await snapshot(of: source, deadline: deadline)
        return snapshot.isAnotherShards ? nil : snapshot
    }

    /// A snapshot no older than the minimum interval, answered by `deadline` whatever AWS does, and at once when
    /// the calling task is cancelled or the exporter shuts down.
    func snapshot(of source: TargetSource, deadline: MonotonicInstant) async -> CollectionSnapshot {
        let clock = collector.monotonicClock
        let now = clock.now()
        let startedAt = collector.now
        let name = source.target.name
        if let history = state.withLock({ $0.histories[name] }), let latest = history.latest {
            let reuse = history.foundNothing ? max(minInterval, emptyRegionInterval ?? .zero) : minInterval
            if reuse > .zero, latest.finishedAt.advanced(by: reuse) > now { return latest }
        }
        guard let ticket = collections.join(name) else {
            return collector.failure(
                "the exporter is shutting down", of: source, waitStarted: now, startedAt: startedAt)
        }
        if ticket.leads {
            let remaining = now.duration(to: deadline)
            let start = deadline.advanced(by: .zero - max(.zero, min(Self.completionGrace, remaining / 4)))
            requestContinuation.yield(Request(source: source, deadline: start))
        }
        // The collection is bounded by an earlier deadline on the injected clock; patience in real time only ends
        // the wait of a scrape that joined a collection started with a later deadline than its own.
        if let result = await collections.wait(ticket, patience: now.duration(to: deadline)) { return result }
        let reason =
            Task.isCancelled || collections.isShutDown
            ? "the scrape was cancelled while a collection was running"
            : "scrape deadline passed while a collection was still running"
        return collector.failure(reason, of: source, waitStarted: now, startedAt: startedAt)
    }

    /// Records a finished collection and answers everyone waiting for that target.
    private func finish(_ name: String, _ snapshot: CollectionSnapshot) {
        let reported = state.withLock { state in
            state.histories[name, default: TargetHistory()].record(snapshot, maxStale: maxStale)
        }
        collections.finish(name, with: reported)
    }

    /// Runs the collections scrapes ask for until graceful shutdown, then cancels those in flight and answers every
    /// waiting scrape at once.
    package func run() async {
        await withTaskGroup(of: Void.self) { group in
            var running = 0
            for await request in requests.cancelOnGracefulShutdown() {
                if running == maxConcurrency {
                    await group.next()
                    running -= 1
                }
                group.addTask(executorPreference: collector.taskExecutor) {
                    let snapshot = await self.collector.collect(request.source, deadline: request.deadline)
                    self.finish(request.source.target.name, snapshot)
                }
                running += 1
            }
            shutDown()
            group.cancelAll()
        }
    }

    /// Answers every waiting scrape and every later one at once.
    package func shutDown() {
        collections.shutDown()
        requestContinuation.finish()
    }
}
