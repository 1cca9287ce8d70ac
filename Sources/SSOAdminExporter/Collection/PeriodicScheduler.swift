import AWSClient
import Logging
import ServiceLifecycle
import Synchronization

/// Collects every target in the background every `interval`, at most `maxConcurrency` at a time, and answers
/// scrapes from the latest snapshots without calling AWS: any number of Prometheus servers may scrape it.
///
/// A round starts when the previous one ends and `interval` has passed since it started, so a slow round delays the
/// next rather than overlapping it. An account's targets share one slot, one after another; each target's
/// collection gets `timeout` of its own, so a hanging account holds one slot and never delays the others.
///
/// With `emptyRegionInterval`, a target whose last collection succeeded and found no instance is left out of the
/// rounds that start sooner than that after the round that collected it; it keeps its last snapshot meanwhile.
package final class PeriodicScheduler: CollectionScheduler, Service {
    package let targets: TargetSet
    package let interval: Duration
    package let timeout: Duration
    package let maxStale: Duration
    package let maxConcurrency: Int
    /// `collection.empty_region_interval`; `nil` collects every target every round.
    package let emptyRegionInterval: Duration?
    private let collector: TargetCollector
    private let state = Mutex(State())
    private let logger: Logger

    private struct State {
        var histories: [String: TargetHistory] = [:]
    }

    package init(
        targets: TargetSet, collector: TargetCollector, interval: Duration, timeout: Duration,
        maxStale: Duration, maxConcurrency: Int, emptyRegionInterval: Duration? = nil, logger: Logger
    ) {
        self.emptyRegionInterval = emptyRegionInterval
        self.targets = targets
        self.collector = collector
        self.interval = interval
        self.timeout = timeout
        self.maxStale = maxStale
        self.maxConcurrency = max(1, maxConcurrency)
        self.logger = logger
    }

    package var helpSuffix: String {
        " Collected in the background every \(interval.secondsDouble)s"
            + (emptyRegionInterval.map { ", targets without instances every \($0.secondsDouble)s." } ?? ".")
    }

    /// The latest snapshot of every target collected at least once, in target order; a target not yet collected
    /// has none.
    package func snapshots(deadline: MonotonicInstant) async -> [CollectionSnapshot] {
        let names = sources.map(\.target.name)
        // A target that learned another replica's account is gone from `names` once `sources` has seen it learn;
        // its one snapshot is left out until then.
        return state.withLock { state in
            names.compactMap { name in state.histories[name]?.latest.flatMap { $0.isAnotherShards ? nil : $0 } }
        }
    }

    package func snapshot(of name: String, deadline: MonotonicInstant) async -> CollectionSnapshot? {
        guard let source = targets.source(named: name) else { return nil }
        return state.withLock { $0.histories[name]?.latest }
            ?? collector.failure(
                "not collected yet", of: source, waitStarted: collector.monotonicClock.now(),
                startedAt: collector.now)
    }

    /// Collects every target once, `maxConcurrency` at a time; with `onlyNew`, only targets never collected (those
    /// a discovery or reload just added).
    package func collectRound(onlyNew: Bool = false) async {
        let clock = collector.monotonicClock
        let roundStarted = clock.now()
        var sources = self.sources
        if onlyNew {
            let known = state.withLock { Set($0.histories.keys) }
            sources = sources.filter { !known.contains($0.target.name) }
            guard !sources.isEmpty else { return }
        } else if let emptyRegionInterval {
            // Measured between round starts, not collection ends: a round starts `interval` after the last, so an
            // interval of five rounds collects every fifth round rather than every sixth.
            let resting = state.withLock { state in
                Set(
                    state.histories.lazy.filter { _, history in
                        history.foundNothing
                            && history.roundStarted.map { $0.advanced(by: emptyRegionInterval) > roundStarted } == true
                    }.map(\.key))
            }
            if !resting.isEmpty { sources = sources.filter { !resting.contains($0.target.name) } }
        }
        // One slot per account, its regions one after another: the account's first collection assumes its role, and
        // the others would otherwise hold slots just waiting for those credentials. A hanging account still delays
        // only itself, each of its targets by its own timeout.
        var accounts: [[TargetSource]] = []
        var position: [String: Int] = [:]
        for source in sources {
            let account = source.target.accountID
            if !account.isEmpty, let index = position[account] {
                accounts[index].append(source)
            } else {
                if !account.isEmpty { position[account] = accounts.count }
                accounts.append([source])
            }
        }
        await withTaskGroup(of: Void.self) { group in
            var running = 0
            for account in accounts {
                if running == maxConcurrency {
                    await group.next()
                    running -= 1
                }
                guard !Task.isCancelled else { break }
                group.addTask(executorPreference: collector.taskExecutor) {
                    for source in account {
                        let snapshot = await self.collector.collect(
                            source, deadline: clock.now().advanced(by: self.timeout))
                        self.state.withLock {
                            _ = $0.histories[source.target.name, default: TargetHistory()]
                                .record(snapshot, maxStale: self.maxStale, roundStarted: roundStarted)
                        }
                    }
                }
                running += 1
            }
        }
        // Targets no longer watched (gone from the configuration or the organization) take their series with them.
        let current = Set(self.sources.map(\.target.name))
        state.withLock { state in
            state.histories = state.histories.filter { current.contains($0.key) }
        }
    }

    /// Rounds until graceful shutdown, which cancels the round in flight. Targets added between rounds (by a
    /// discovery or a reload) are collected when they appear rather than at the next round.
    package func run() async {
        let clock = collector.monotonicClock
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let started = clock.now()
                // Read before the round: targets added while it runs are collected right after it.
                var seen = self.targets.generation
                await self.collectRound()
                if Task.isCancelled {
                    self.logger.info("collection round cancelled by shutdown")
                    break
                }
                let next = started.advanced(by: self.interval)
                if clock.now() >= next {
                    self.logger.warning(
                        "a collection round took longer than the interval",
                        metadata: ["interval": "\(self.interval)", "targets": "\(self.targets.sources.count)"])
                    continue
                }
                while !Task.isCancelled, clock.now() < next {
                    let changed = await self.waitForChange(after: seen, orFor: clock.now().duration(to: next))
                    if changed {
                        // Changes made while these are collected wake the next wait at once.
                        seen = self.targets.generation
                        await self.collectRound(onlyNew: true)
                        if Task.isCancelled {
                            self.logger.info("collection round cancelled by shutdown")
                        }
                    }
                }
            }
        }
    }

    /// Waits until the target set changes after `generation` (`true`) or `duration` passes (`false`).
    private func waitForChange(after generation: Int, orFor duration: Duration) async -> Bool {
        let clock = collector.monotonicClock
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await self.targets.changed(after: generation)
                return !Task.isCancelled
            }
            group.addTask {
                try? await clock.sleep(for: duration)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }
}
