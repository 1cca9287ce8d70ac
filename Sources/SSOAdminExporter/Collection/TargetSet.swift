import Synchronization

/// The targets being watched: those the configuration names and those discovery found, replaced as a whole when
/// either changes. Schedulers read it afresh for every round or scrape and keep their state by target name, so a
/// target that disappears takes its series with it and a new one starts clean.
public final class TargetSet: Sendable {
    private let state: Mutex<(configured: [TargetSource], discovered: [TargetSource])>

    public init(configured: [TargetSource], discovered: [TargetSource] = []) {
        state = Mutex((configured, discovered))
    }

    /// Configured targets first, in file order, then discovered ones; a discovered target never hides a configured
    /// one of the same name.
    public var sources: [TargetSource] {
        state.withLock { state in
            let names = Set(state.configured.map(\.target.name))
            return state.configured + state.discovered.filter { !names.contains($0.target.name) }
        }
    }

    public var configuredCount: Int { state.withLock { $0.configured.count } }
    public var discoveredCount: Int { sources.count - configuredCount }

    public func replaceConfigured(_ sources: [TargetSource]) {
        state.withLock { $0.configured = sources }
    }

    public func replaceDiscovered(_ sources: [TargetSource]) {
        state.withLock { $0.discovered = sources }
    }

    public func source(named name: String) -> TargetSource? {
        sources.first { $0.target.name == name }
    }
}
