import Dispatch

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// `credential_process` from a profile: the command is split like a POSIX shell would (quotes and backslashes, no
/// expansion) and run without a shell, as botocore does; its standard output must be the `Version: 1` JSON document.
public struct ProcessCredentialSource: Sendable {
    public let commandLine: String
    public let profileName: String
    public let timeout: Duration

    public init(commandLine: String, profileName: String, timeout: Duration = .seconds(30)) {
        self.commandLine = commandLine
        self.profileName = profileName
        self.timeout = timeout
    }

    public func fetch() async throws -> AWSCredentials {
        let arguments = try Self.split(commandLine).get()
        let source = "credential_process of profile \(profileName)"
        let (status, output) = try await ChildProcess.run(arguments, timeout: timeout, provider: "process")
        guard status == 0 else {
            throw AWSCredentialsError(provider: "process", message: "\(source) exited with status \(status)")
        }
        let document = try? JSONDecoder().decode(CredentialsDocument.self, from: Data(output))
        guard document?.version == 1 else {
            throw AWSCredentialsError(provider: "process", message: "\(source) did not print JSON with \"Version\": 1")
        }
        return try CredentialsDocument.credentials(from: output, provider: "process", source: source)
    }

    /// POSIX shell word splitting without expansion: whitespace separates, single quotes are literal, double
    /// quotes and backslashes escape.
    public static func split(_ line: String) -> Result<[String], AWSCredentialsError> {
        var words: [String] = []
        var current = ""
        var inWord = false
        var iterator = line.makeIterator()
        while let character = iterator.next() {
            switch character {
            case " ", "\t", "\n":
                if inWord { words.append(current) }
                current = ""
                inWord = false
            case "'":
                inWord = true
                var closed = false
                while let next = iterator.next() {
                    if next == "'" {
                        closed = true
                        break
                    }
                    current.append(next)
                }
                guard closed else { return .failure(Self.syntax("an unclosed single quote")) }
            case "\"":
                inWord = true
                var closed = false
                while let next = iterator.next() {
                    if next == "\"" {
                        closed = true
                        break
                    }
                    if next == "\\", let escaped = iterator.next() {
                        if escaped != "\"" && escaped != "\\" && escaped != "$" && escaped != "`" {
                            current.append("\\")
                        }
                        current.append(escaped)
                    } else {
                        current.append(next)
                    }
                }
                guard closed else { return .failure(Self.syntax("an unclosed double quote")) }
            case "\\":
                inWord = true
                if let escaped = iterator.next() { current.append(escaped) }
            default:
                inWord = true
                current.append(character)
            }
        }
        if inWord { words.append(current) }
        guard !words.isEmpty else { return .failure(Self.syntax("no command")) }
        return .success(words)
    }

    private static func syntax(_ problem: String) -> AWSCredentialsError {
        AWSCredentialsError(provider: "process", message: "credential_process has \(problem)")
    }
}

/// Runs a program with `posix_spawnp`, collecting its standard output; standard error goes to this process's.
/// FoundationEssentials has no `Process`, and this is the one place a child is started.
enum ChildProcess {
    static let maxOutputBytes = 1 << 20

    static func run(_ arguments: [String], timeout: Duration, provider: String) async throws -> (Int32, [UInt8]) {
        try await withCheckedThrowingContinuation { continuation in
            // Blocking reads belong on a thread outside Swift concurrency's small cooperative pool.
            DispatchQueue.global().async {
                continuation.resume(with: Result { try runBlocking(arguments, timeout: timeout, provider: provider) })
            }
        }
    }

    private static func runBlocking(_ arguments: [String], timeout: Duration, provider: String) throws -> (
        Int32, [UInt8]
    ) {
        let name = arguments[0]
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else {
            throw AWSCredentialsError(provider: provider, message: "cannot create a pipe for \(name)")
        }
        let (readEnd, writeEnd) = (fds[0], fds[1])
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, writeEnd, 1)
        posix_spawn_file_actions_addclose(&actions, readEnd)
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawnp(&pid, name, &actions, nil, &argv, environ)
        close(writeEnd)
        guard spawned == 0 else {
            close(readEnd)
            throw AWSCredentialsError(
                provider: provider, message: "cannot start \(name): \(String(cString: strerror(spawned)))")
        }
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        let deadline = ContinuousClock.now.advanced(by: timeout)
        var timedOut = false
        while true {
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else {
                timedOut = true
                break
            }
            var poller = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(clamping: remaining.components.seconds * 1000 + 1)
            let ready = poll(&poller, 1, milliseconds)
            if ready < 0 && errno == EINTR { continue }
            if ready <= 0 { continue }
            let count = buffer.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            output.append(contentsOf: buffer[0..<count])
            if output.count > maxOutputBytes { break }
        }
        close(readEnd)
        if timedOut || output.count > maxOutputBytes { kill(pid, SIGKILL) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        if timedOut {
            throw AWSCredentialsError(provider: provider, message: "\(name) did not finish within \(timeout)")
        }
        if output.count > maxOutputBytes {
            throw AWSCredentialsError(provider: provider, message: "\(name) printed more than 1 MiB")
        }
        // WIFEXITED / WEXITSTATUS, which Swift does not import as functions.
        let exitStatus: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (exitStatus, output)
    }
}
