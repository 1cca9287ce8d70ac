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

        mutating func reindex() {
            byName = Dictionary(discovered.map { ($0.target.name, $0) }, uniquingKeysWith: { first, _ in first })
            for source in configured { byName[source.target.name] = source }
            let names = Set(configured.map(\.target.name))
            all = configured + discovered.filter { !names.contains($0.target.name) }
        }
    }
    /// Waiters for the next change, by ID so that a cancelled wait can leave.
    private let waiters = Mutex<(next: Int, continuations: [Int: CheckedContinuation<Void, Never>])>((0, [:]))

    public init(configured: [TargetSource], discovered: [TargetSource] = []) {
        var state = State(configured: configured, discovered: discovered)
        state.reindex()
        self.state = Mutex(state)
    }

    /// Returns at the next change, or at once when the calling task is cancelled.
    public func changed() async {
        let id = waiters.withLock { waiters in
            waiters.next += 1
            return waiters.next
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let cancelled = waiters.withLock { waiters in
                    if Task.isCancelled { return true }
                    waiters.continuations[id] = continuation
                    return false
                }
                if cancelled { continuation.resume() }
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
    public var discoveredCount: Int { sources.count - configuredCount }

    public func replaceConfigured(_ sources: [TargetSource]) {
        state.withLock {
            $0.configured = sources
            $0.reindex()
        }
        notify()
    }

    public func replaceDiscovered(_ sources: [TargetSource]) {
        state.withLock {
            $0.discovered = sources
            $0.reindex()
        }
        notify()
    }

    public func source(named name: String) -> TargetSource? {
        state.withLock { $0.byName[name] }
    }
}
