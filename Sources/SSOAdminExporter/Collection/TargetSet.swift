import Synchronization

/// The targets being watched: those the configuration names and those discovery found, replaced as a whole when
/// either changes. Schedulers read it afresh for every round or scrape and keep their state by target name, so a
/// target that disappears takes its series with it and a new one starts clean.
public final class TargetSet: Sendable {
    private let state: Mutex<State>

    private struct State {
        var configured: [TargetSource]
        var discovered: [TargetSource]
        /// Every watched target by name, rebuilt on each change: a sharded Prometheus probes every target, and a
        /// lookup must not walk the list each time.
        var byName: [String: TargetSource] = [:]
        /// The configured targets, then the discovered ones not configured too: built on each change, since every
        /// round and scrape reads it.
        var all: [TargetSource] = []

        /// Counts changes, so that a waiter can tell whether one happened since it last looked.
        var generation = 0
        /// Whether a configured target whose account is not known yet is watched beside discovered ones: once it
        /// learns its account, it may write the series of a discovered target.
        var mayWriteSeriesTwice = false

        /// A name listed twice, in either list or in both, is watched once: its first listing, configured first.
        /// A discovered target whose series a configured one already writes (same account, region and labels,
        /// under another name) is not watched either.
        mutating func reindex() {
            generation += 1
            byName = [:]
            byName.reserveCapacity(configured.count + discovered.count)
            all = []
            all.reserveCapacity(configured.count + discovered.count)
            var configuredSeries = Set<CollectionTarget.SeriesIdentity>()
            for source in configured where byName[source.target.name] == nil {
                byName[source.target.name] = source
                all.append(source)
                let target = source.currentTarget
                if !target.accountID.isEmpty { configuredSeries.insert(target.seriesIdentity) }
            }
            for source in discovered
            where byName[source.target.name] == nil && !configuredSeries.contains(source.target.seriesIdentity) {
                byName[source.target.name] = source
                all.append(source)
            }
            mayWriteSeriesTwice = !discovered.isEmpty && configured.contains { $0.currentTarget.accountID.isEmpty }
        }
    }
    /// Waiters for the next change, by ID so that a cancelled wait can leave.
    private let waiters = Mutex<(next: Int, continuations: [Int: CheckedContinuation<Void, Never>])>((0, [:]))

    /// Told the watched targets after every change, such as the target factory, so that the series of a target
    /// that left go with it.
    private let onChange: (@Sendable ([TargetSource]) -> Void)?

    public init(
        configured: [TargetSource], discovered: [TargetSource] = [],
        onChange: (@Sendable ([TargetSource]) -> Void)? = nil
    ) {
        var state = State(configured: configured, discovered: discovered)
        state.reindex()
        self.state = Mutex(state)
        self.onChange = onChange
    }

    /// Changes so far; hand it to ``changed(after:)`` so that a change made in between is not missed.
    public var generation: Int { state.withLock { $0.generation } }

    /// Returns at the first change after `generation` (at once if there was one already), or at once when the
    /// calling task is cancelled.
    public func changed(after generation: Int) async {
        let id = waiters.withLock { waiters in
            waiters.next += 1
            return waiters.next
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                // Read under the waiters' lock: `notify` takes it after every change, so a change either shows in
                // the generation here or finds this waiter registered.
                let ready = waiters.withLock { waiters in
                    if Task.isCancelled || self.generation != generation { return true }
                    waiters.continuations[id] = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            waiters.withLock { $0.continuations.removeValue(forKey: id) }?.resume()
        }
    }

    private func notify() {
        let woken = waiters.withLock { waiters in
            defer { waiters.continuations.removeAll() }
            return Array(waiters.continuations.values)
        }
        for continuation in woken { continuation.resume() }
    }

    /// Configured targets first, in file order, then discovered ones; a discovered target never hides a configured
    /// one of the same name.
    public var sources: [TargetSource] {
        state.withLock { $0.all }
    }

    public var configuredCount: Int { state.withLock { $0.configured.count } }

    /// Whether snapshots must be checked for two targets writing the same series (see ``MetricsPage``); false, and
    /// so free, unless a configured target without a known account is watched beside discovered ones.
    var mayWriteSeriesTwice: Bool { state.withLock { $0.mayWriteSeriesTwice } }
    public var discoveredCount: Int { sources.count - configuredCount }

    public func replaceConfigured(_ sources: [TargetSource]) {
        let all = state.withLock {
            $0.configured = sources
            $0.reindex()
            return $0.all
        }
        onChange?(all)
        notify()
    }

    public func replaceDiscovered(_ sources: [TargetSource]) {
        let all = state.withLock {
            $0.discovered = sources
            $0.reindex()
            return $0.all
        }
        onChange?(all)
        notify()
    }

    public func source(named name: String) -> TargetSource? {
        state.withLock { $0.byName[name] }
    }
}
