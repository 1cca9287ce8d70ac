import Foundation

/// Finds the external programs some tests need (moto_server, promtool, python3). A developer machine
/// without them skips those tests; under `CI=true` a missing tool fails them instead.
public enum ExternalTools {
    public static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    public static func path(_ name: String) -> String? {
        let searchPath = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in searchPath.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Whether a test that needs `names` should run: always under CI (where absence is then a failure).
    public static func shouldRun(_ names: String...) -> Bool {
        isCI || names.allSatisfy { path($0) != nil }
    }

    /// Runs a program to completion and returns its exit status and combined output.
    @discardableResult
    public static func run(
        _ executable: String,
        _ arguments: [String],
        input: Data? = nil,
        environment: [String: String]? = nil
    ) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        let inputPipe = Pipe()
        process.standardInput = inputPipe
        try process.run()
        if let input { inputPipe.fileHandleForWriting.write(input) }
        try inputPipe.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// ``run(_:_:input:environment:)`` on a thread of its own: waiting for a program must not hold one of the few
    /// threads Swift concurrency runs every test on, or the timing of tests running beside it suffers.
    public static func runDetached(
        _ executable: String,
        _ arguments: [String],
        input: Data? = nil,
        environment: [String: String]? = nil
    ) async throws -> (status: Int32, output: String) {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(
                    with: Result { try run(executable, arguments, input: input, environment: environment) })
            }.start()
        }
    }

    /// An executable product that `swift test` built next to the test bundle (or in `.build/debug`).
    public static func builtProduct(_ name: String) -> String? {
        [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
            repositoryRoot.appendingPathComponent(".build/debug"),
        ].map { $0.appendingPathComponent(name).path }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// The repository root, found from this source file's location.
    public static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
    }
}
