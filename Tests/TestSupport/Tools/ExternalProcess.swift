import Foundation

/// A long-running program a test starts (Prometheus, Alertmanager), with its output kept in a file for the failure
/// message, and killed when the test ends, whether it passed or not.
public final class ExternalProcess: @unchecked Sendable {
    public let name: String
    public let logFile: URL
    private let process = Process()

    /// Starts `executable`; its standard output and error go to `logFile`.
    public init(name: String, executable: String, arguments: [String], logFile: URL) throws {
        self.name = name
        self.logFile = logFile
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let log = try FileHandle(forWritingTo: logFile)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    public var isRunning: Bool { process.isRunning }

    /// The last `limit` characters of the program's output.
    public func logTail(_ limit: Int = 3_000) -> String {
        let text = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
        return "--- \(name) log (last \(limit) characters):\n" + String(text.suffix(limit))
    }

    /// SIGKILL, not SIGTERM: the test runner's threads block SIGTERM and a spawned child inherits that mask.
    public func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit { stop() }
}
