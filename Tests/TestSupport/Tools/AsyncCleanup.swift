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
