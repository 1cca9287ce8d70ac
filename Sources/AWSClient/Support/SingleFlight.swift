import Synchronization

/// Callers that need the same piece of work share one run of it. The first caller of a key leads: it starts the
/// work (in its own task, or by asking another task to run it); later callers of the key follow. Every caller, the
/// leader included, then waits for the outcome that ``finish(_:with:)`` hands out, each until its own patience runs
/// out, its task is cancelled, or the flight is shut down, whichever comes first; a caller that stops waiting gets
/// `nil` and leaves nothing behind.
///
/// The one way the program waits for someone else's work: scrapes for a collection in flight, callers for a
/// credentials refresh, a scheduler for the next change of its targets.
package final class SingleFlight<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    /// One caller's place in a flight.
    package struct Ticket: Sendable {
        package let key: Key
        /// Whether this caller started the flight, and so must see that it finishes.
        package let leads: Bool
        fileprivate let id: Int
    }

    private enum Waiter {
        /// Joined; not yet waiting.
        case pending(Key)
        case waiting(Key, CheckedContinuation<Value?, Never>)
        /// Answered before it waited: the answer is kept for when it does.
        case answered(Value?)
    }

    private struct State {
        var waiters: [Int: Waiter] = [:]
        /// The waiters not yet answered, by the key they joined, so that finishing a flight visits only its own.
        var joined: [Key: Set<Int>] = [:]
        var inFlight: Set<Key> = []
        var nextID = 0
        var shutDown = false

        mutating func add(_ key: Key) -> Int {
            let id = nextID
            nextID += 1
            waiters[id] = .pending(key)
            joined[key, default: []].insert(id)
            return id
        }

        mutating func forget(_ id: Int, of key: Key) {
            guard var ids = joined[key] else { return }
            ids.remove(id)
            joined[key] = ids.isEmpty ? nil : ids
        }

        /// Emptied tables keep their storage; an idle flight gives it back, since a process holds one per
        /// credential provider (thousands in an organization) and most are idle between refreshes.
        mutating func releaseStorageWhenIdle() {
            if waiters.isEmpty, waiters.capacity > 0 { waiters = [:] }
            if joined.isEmpty, joined.capacity > 0 { joined = [:] }
            if inFlight.isEmpty, inFlight.capacity > 0 { inFlight = [] }
        }
    }

    private let state = Mutex(State())

    package init() {}

    /// Joins the flight of `key`, starting it when there is none. `nil` once shut down, or when `unless`, checked
    /// under the flight's lock, says there is nothing to wait for.
    package func join(_ key: Key, unless done: () -> Bool = { false }) -> Ticket? {
        state.withLock { state in
            guard !state.shutDown, !done() else { return nil }
            let id = state.add(key)
            return Ticket(key: key, leads: state.inFlight.insert(key).inserted, id: id)
        }
    }

    /// Starts a flight of `key` only when none is in flight; `nil` when one is, or once shut down.
    package func lead(_ key: Key) -> Ticket? {
        state.withLock { state in
            guard !state.shutDown, state.inFlight.insert(key).inserted else { return nil }
            return Ticket(key: key, leads: true, id: state.add(key))
        }
    }

    /// The flight's outcome, or `nil` when `patience` (real time) runs out first, the calling task is cancelled or
    /// the flight is shut down.
    package func wait(_ ticket: Ticket, patience: Duration? = nil) async -> Value? {
        guard let patience else { return await waitForAnswer(ticket.id) }
        return await withTaskGroup(of: Void.self) { group in
            group.addTask {
                try? await Task.sleep(for: patience)
                self.answer(ticket.id, with: nil)
            }
            let result = await waitForAnswer(ticket.id)
            group.cancelAll()
            return result
        }
    }

    private func waitForAnswer(_ id: Int) async -> Value? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Value?, Never>) in
                let early: Value?? = state.withLock { state in
                    switch state.waiters[id] {
                    case .pending(let key):
                        state.waiters[id] = .waiting(key, continuation)
                        return nil
                    case .answered(let value):
                        state.waiters[id] = nil
                        state.releaseStorageWhenIdle()
                        return .some(value)
                    case .waiting, nil:
                        return .some(nil)
                    }
                }
                if let early { continuation.resume(returning: early) }
            }
        } onCancel: {
            answer(id, with: nil)
        }
    }

    /// Ends the flight of `key`: every caller that joined it gets `value`, and the next caller of `key` leads anew.
    package func finish(_ key: Key, with value: Value) {
        let waiting: [CheckedContinuation<Value?, Never>] = state.withLock { state in
            state.inFlight.remove(key)
            var waiting: [CheckedContinuation<Value?, Never>] = []
            for id in state.joined.removeValue(forKey: key) ?? [] {
                switch state.waiters[id] {
                case .pending:
                    state.waiters[id] = .answered(value)
                case .waiting(_, let continuation):
                    state.waiters[id] = nil
                    waiting.append(continuation)
                case .answered, nil:
                    break
                }
            }
            state.releaseStorageWhenIdle()
            return waiting
        }
        for continuation in waiting { continuation.resume(returning: value) }
    }

    /// Answers every caller waiting now with `nil`, and refuses every later one.
    package func shutDown() {
        let ids: [Int] = state.withLock { state in
            state.shutDown = true
            return Array(state.waiters.keys)
        }
        for id in ids { answer(id, with: nil) }
    }

    /// Whether ``shutDown()`` was called.
    package var isShutDown: Bool { state.withLock { $0.shutDown } }

    /// Whether a flight of `key` is in progress.
    package func isInFlight(_ key: Key) -> Bool {
        state.withLock { $0.inFlight.contains(key) }
    }

    /// The slots its tables hold, for tests: none once idle.
    package var tableCapacity: Int {
        state.withLock { $0.waiters.capacity + $0.joined.capacity + $0.inFlight.capacity }
    }

    /// Callers joined and not yet answered, for tests.
    package var waiting: Int {
        state.withLock { state in
            state.waiters.values.filter {
                if case .answered = $0 { return false }
                return true
            }.count
        }
    }

    private func answer(_ id: Int, with value: Value?) {
        let continuation: CheckedContinuation<Value?, Never>? = state.withLock { state in
            switch state.waiters[id] {
            case .pending(let key):
                state.waiters[id] = .answered(value)
                state.forget(id, of: key)
                return nil
            case .waiting(let key, let continuation):
                state.waiters[id] = nil
                state.forget(id, of: key)
                state.releaseStorageWhenIdle()
                return continuation
            case .answered, nil:
                return nil
            }
        }
        continuation?.resume(returning: value)
    }
}
