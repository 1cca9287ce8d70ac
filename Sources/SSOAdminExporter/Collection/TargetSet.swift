import AWSClient
import Synchronization

/// The targets being watched: those the configuration names and those discovery found, replaced as a whole when
/// either changes. Schedulers read it afresh for every round or scrape and keep their state by target name, so a
/// target that disappears takes its series with it and a new one starts clean.
package final class TargetSet: Sendable {
    private let state: Mutex<State>

    private struct State {
        /// Configured targets of another replica's account are not watched, once their account is known.
        let shard: ShardAssignment
        var configured: [TargetSource]
        var discovered: [TargetSource]
        /// Every watched target by name, rebuilt on each change: a sharded Prometheus probes every target, and a
        /// lookup must not walk the list each time.
        var byName: [String: TargetSource] = [:]
        /// The configured targets, then the discovered ones not configured too: built on each change, since every
        /// round and scrape reads it.
        var all: [TargetSource] = []
        /// How many of `all` are configured targets: the first ones.
        var configuredWatched = 0

        /// Counts changes, so that a waiter can tell whether one happened since it last looked.
        var generation = 0
        /// Configured targets whose account was not known at the last change, watched beside discovered or other
        /// configured ones: once one learns its account, a discovered target of the same account and Region, or a
        /// configured one of the same account, Region and labels, is no longer watched.
        var unlearned: [TargetSource] = []

        /// A name listed twice, in either list or in both, is watched once: its first listing, configured first.
        /// A discovered target for an account and Region a configured target already watches (a `role_arn` into an
        /// account discovery also finds, or the exporter's own account) is not watched either, whatever its name
        /// and labels: the configured one wins.
        mutating func reindex() {
            generation += 1
            byName = [:]
            byName.reserveCapacity(configured.count + discovered.count)
            all = []
            all.reserveCapacity(configured.count + discovered.count)
            unlearned = []
            var configuredPlaces = Set<CollectionTarget.Place>()
            var configuredSeries = Set<CollectionTarget.SeriesIdentity>()
            for source in configured where byName[source.target.name] == nil {
                let target = source.currentTarget
                guard shard.owns(accountID: target.accountID) else { continue }
                if target.accountID.isEmpty {
                    unlearned.append(source)
                } else {
                    // Two configured targets that turn out to watch the same account, Region and labels (one of
                    // them learned its account) would write the same series: the first one is watched.
                    guard configuredSeries.insert(target.seriesIdentity).inserted else { continue }
                    configuredPlaces.insert(target.place)
                }
                byName[source.target.name] = source
                all.append(source)
            }
            configuredWatched = all.count
            for source in discovered
            where byName[source.target.name] == nil && !configuredPlaces.contains(source.target.place) {
                byName[source.target.name] = source
                all.append(source)
            }
            // A lone configured target duplicates nothing: its learning need not be watched, unless its account
            // may turn out to be another replica's.
            if discovered.isEmpty && configured.count < 2 && shard.count == 1 { unlearned = [] }
        }

        /// Whether a configured target learned its account since the last change.
        var learnedSinceReindex: Bool {
            !unlearned.isEmpty && unlearned.contains { !$0.account.current.isEmpty }
        }
    }
    /// Waiters for the change that ends a generation, keyed by that generation.
    private let changes = SingleFlight<Int, Void>()

    /// Told the watched targets after every change, such as the target factory, so that the series of a target
    /// that left go with it.
    private let onChange: (@Sendable ([TargetSource]) -> Void)?

    package init(
        configured: [TargetSource], discovered: [TargetSource] = [], shard: ShardAssignment = .whole,
        onChange: (@Sendable ([TargetSource]) -> Void)? = nil
    ) {
        var state = State(shard: shard, configured: configured, discovered: discovered)
        state.reindex()
        self.state = Mutex(state)
        self.onChange = onChange
    }

    /// Changes so far; hand it to ``changed(after:)`` so that a change made in between is not missed.
    package var generation: Int { state.withLock { $0.generation } }

    /// Returns at the first change after `generation` (at once if there was one already), or at once when the
    /// calling task is cancelled.
    package func changed(after generation: Int) async {
        // Checked under the flight's lock: a change either shows in the generation here or, made after, finishes
        // the flight this waiter joined.
        guard let ticket = changes.join(generation, unless: { self.generation != generation }) else { return }
        _ = await changes.wait(ticket)
    }

    /// Wakes the waiters of the generation that `generation` ended.
    private func notify(_ generation: Int) {
        changes.finish(generation - 1, with: ())
    }

    /// Configured targets first, in file order, then discovered ones; a discovered target never hides a configured
    /// one of the same name.
    ///
    /// A configured target that has learned its account since the last change is taken into account here, so that
    /// the next round, scrape or `/sd` after it no longer watches the discovered target it duplicates.
    package var sources: [TargetSource] { current { $0.all } }

    /// Reads the state once a configured target that learned its account since the last change has been taken
    /// into account (the discovered target it duplicates, or itself when the account is another replica's, are
    /// then no longer watched).
    private func current<Value>(_ read: (State) -> Value) -> Value {
        let (value, all, changed) = state.withLock { state -> (Value, [TargetSource], Int?) in
            guard state.learnedSinceReindex else { return (read(state), [], nil) }
            state.reindex()
            return (read(state), state.all, state.generation)
        }
        if let changed {
            onChange?(all)
            notify(changed)
        }
        return value
    }

    /// Whether snapshots must be checked for a target that duplicates a configured one (see ``TargetSeries``); false,
    /// and so free, unless a configured target without a known account is watched beside others.
    var mayWriteSeriesTwice: Bool { state.withLock { !$0.unlearned.isEmpty } }

    /// The discovered targets among `snapshots` whose account and Region a configured target now watches: a scrape
    /// that collected both before the configured one learned its account writes only the configured one's series.
    func discoveredDuplicates(in snapshots: [CollectionSnapshot]) -> Set<String> {
        state.withLock { state in
            let configuredNames = Set(state.configured.map(\.target.name))
            let places = Set(state.configured.map(\.currentTarget).filter { !$0.accountID.isEmpty }.map(\.place))
            return Set(
                snapshots.lazy.filter { !configuredNames.contains($0.target.name) && places.contains($0.target.place) }
                    .map(\.target.name))
        }
    }
    /// The watched targets that are configured and discovered: a configured target that duplicates another, or
    /// whose account is another replica's, is not watched and not counted.
    package var watchedCounts: (configured: Int, discovered: Int) {
        let all = sources.count
        let configured = state.withLock { $0.configuredWatched }
        return (configured, all - configured)
    }

    package func replaceConfigured(_ sources: [TargetSource]) {
        let (all, generation) = state.withLock {
            $0.configured = sources
            $0.reindex()
            return ($0.all, $0.generation)
        }
        onChange?(all)
        notify(generation)
    }

    package func replaceDiscovered(_ sources: [TargetSource]) {
        let (all, generation) = state.withLock {
            $0.discovered = sources
            $0.reindex()
            return ($0.all, $0.generation)
        }
        onChange?(all)
        notify(generation)
    }

    package func source(named name: String) -> TargetSource? {
        current { $0.byName[name] }
    }
}
