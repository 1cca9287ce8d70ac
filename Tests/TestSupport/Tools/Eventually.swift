/// Waits for a condition instead of a fixed time: polls `body` every `interval` until it returns a value, or
/// `timeout` passes (then `nil`, for the caller's expectation to report). The one way tests wait for something to
/// happen, so that none of them asserts after a sleep that a slow machine may outlast.
public func eventually<T>(
    timeout: Duration = .seconds(40), interval: Duration = .milliseconds(50), _ body: () async throws -> T?
) async throws -> T? {
    let started = ContinuousClock.now
    while ContinuousClock.now - started < timeout {
        if let value = try await body() { return value }
        try await Task.sleep(for: interval)
    }
    return try await body()
}

/// Whether `condition` came true within `timeout`, checked as ``eventually(timeout:interval:_:)`` checks.
public func eventually(
    within timeout: Duration, interval: Duration = .milliseconds(20), _ condition: () async throws -> Bool
) async throws -> Bool {
    try await eventually(timeout: timeout, interval: interval) { try await condition() ? true : nil } ?? false
}
