/// Runs `body`, then `cleanup` whether `body` threw or not; `defer` cannot await, so harnesses that own
/// servers and HTTP clients share this instead of repeating the cleanup in a catch and after it.
public func withAsyncCleanup<T>(
    _ body: () async throws -> T,
    cleanup: () async throws -> Void
) async throws -> T {
    let result: T
    do {
        result = try await body()
    } catch {
        try? await cleanup()
        throw error
    }
    try await cleanup()
    return result
}

/// Runs `body` while a timer set for `duration` waits beside it, and returns how long `body` took and how late that
/// timer fired: the delay the loaded machine itself adds, which a check that something answered by its deadline
/// must allow for (and no more, so a real overrun still fails).
public func withSchedulerLateness<T>(
    over duration: Duration,
    _ body: () async throws -> T
) async throws -> (result: T, elapsed: Duration, lateness: Duration) {
    async let lateness: Duration = {
        let start = ContinuousClock.now
        try? await Task.sleep(until: start.advanced(by: duration), clock: .continuous)
        return max(.zero, ContinuousClock.now - start - duration)
    }()
    let started = ContinuousClock.now
    let result = try await body()
    let elapsed = ContinuousClock.now - started
    return (result, elapsed, await lateness)
}
