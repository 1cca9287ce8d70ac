import Crypto

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

// `struct stat` is declared, for the compiler, by whichever module first included its header: CoreFoundation or
// SwiftNIO's CNIOLinux, depending on the order the target's files are compiled in. Both are imported so that
// member import visibility finds it either way.
#if canImport(CoreFoundation)
    import CoreFoundation
#endif
#if canImport(CNIOLinux)
    import CNIOLinux
#endif

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reads the files the configuration names (`--config.file`, `--web.config.file`, certificates and keys) without
/// trusting them: only regular files, never more than a limit, never blocking.
///
/// A FIFO opened for reading blocks until a writer comes, and a device or a file of gigabytes would be read whole into
/// memory; the kind and size are checked before a byte is read, and at most `limit + 1` bytes are read after, so a
/// file that grows meanwhile is still refused.
enum ConfigurationFileReader {
    /// The default limit for every file: configuration files and PEM files are a few KiB, and 1 MiB leaves room for
    /// thousands of targets or users while keeping a mistaken path (a log, a disk image) from being read whole.
    static let defaultLimit = 1 << 20

    /// Why a file cannot be read.
    enum Problem: Error, Equatable, Sendable {
        case missing
        case notRegular(kind: String)
        case tooLarge(limit: Int)
        case unreadable(reason: String)

        /// The problem as the end of a sentence that starts with the file's name: `purpose` says what the limit is
        /// for (`--config.file`), `advice` what to do about a file over it.
        func text(purpose: String, advice: String) -> String {
            switch self {
            case .missing: "no such file"
            case .notRegular(let kind): "is not a regular file (it is \(kind)); give the path of a file"
            case .tooLarge(let limit):
                "is larger than \(ConfigurationFileReader.describe(limit)) (the limit for \(purpose)); \(advice)"
            case .unreadable(let reason): "cannot be read (\(reason))"
            }
        }
    }

    /// `1 MiB`, `512 KiB` or a number of bytes.
    static func describe(_ bytes: Int) -> String {
        if bytes >= 1 << 20, bytes % (1 << 20) == 0 { return "\(bytes >> 20) MiB" }
        if bytes >= 1 << 10, bytes % (1 << 10) == 0 { return "\(bytes >> 10) KiB" }
        return "\(bytes) bytes"
    }

    /// The bytes read at once: what the watcher holds to digest a file.
    static let chunkSize = 64 * 1024

    /// The contents of `path`, at most `limit` bytes of a regular file.
    static func contents(of path: String, limit: Int = defaultLimit) throws(Problem) -> [UInt8] {
        var contents: [UInt8] = []
        try read(path, limit: limit) { contents.append(contentsOf: $0) }
        return contents
    }

    /// Reads `path` in chunks of at most ``chunkSize`` bytes, each given to `body`: a regular file, refused before
    /// its first byte when `fstat` says it is over `limit`, and after at most `limit + 1` bytes when it grew since.
    static func read(_ path: String, limit: Int, _ body: (UnsafeRawBufferPointer) -> Void) throws(Problem) {
        let descriptor = try openForReading(path)
        defer { _ = close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw .unreadable(reason: errorText(errno)) }
        if let kind = kind(of: status) { throw .notRegular(kind: kind) }
        guard status.st_size <= limit else { throw .tooLarge(limit: limit) }
        var chunk = [UInt8](repeating: 0, count: min(chunkSize, limit + 1))
        var total = 0
        while total <= limit {
            let wanted = min(chunk.count, limit + 1 - total)
            let count = chunk.withUnsafeMutableBytes { systemRead(descriptor, $0.baseAddress, wanted) }
            if count == 0 { return }
            if count < 0 {
                if errno == EINTR { continue }
                throw .unreadable(reason: errorText(errno))
            }
            total += count
            guard total <= limit else { break }
            chunk.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
        }
        throw .tooLarge(limit: limit)
    }

    /// What the watcher compares: the file's identity, size and times, which change whenever its contents do.
    struct Signature: Equatable, Sendable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var modified: timespec
        var changed: timespec

        static func == (lhs: Signature, rhs: Signature) -> Bool {
            lhs.device == rhs.device && lhs.inode == rhs.inode && lhs.size == rhs.size
                && lhs.modified.tv_sec == rhs.modified.tv_sec && lhs.modified.tv_nsec == rhs.modified.tv_nsec
                && lhs.changed.tv_sec == rhs.changed.tv_sec && lhs.changed.tv_nsec == rhs.changed.tv_nsec
        }
    }

    /// One file as the watcher last saw it: the signature, when it was taken, and a digest of the contents.
    struct Observation: Equatable, Sendable {
        var signature: Signature?
        var seen: timespec
        var digest: [UInt8]

        static func == (lhs: Observation, rhs: Observation) -> Bool { lhs.digest == rhs.digest }
    }

    /// How long after a file was last written its `stat` alone is trusted to say it did not change: file times come
    /// from a coarse clock, so a file written twice within one tick keeps its size and times ("racy" in git's terms).
    static let defaultRacyWindow: Duration = .seconds(2)

    /// `path` as it is now. When its signature is the one `previous` saw, and the file was last written more than
    /// `racyWindow` before `previous` was taken, the contents are the same and are not read again; otherwise they are
    /// digested in bounded chunks (a file over `limit` only by its size and times). `contentReads` counts the files
    /// whose contents were read.
    static func observe(
        _ path: String, previous: Observation?, limit: Int = defaultLimit, racyWindow: Duration = defaultRacyWindow,
        contentReads: inout Int
    ) -> Observation {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var status = stat()
        guard stat(path, &status) == 0 else {
            return Observation(signature: nil, seen: now, digest: Array("missing or unreadable \(errno)".utf8))
        }
        let signature = Signature(
            device: UInt64(status.st_dev), inode: UInt64(status.st_ino), size: Int64(status.st_size),
            modified: modificationTime(status), changed: changeTime(status))
        let window = racyWindow.components.seconds * 1_000_000_000 + racyWindow.components.attoseconds / 1_000_000_000
        if let previous, previous.signature == signature,
            nanoseconds(signature.modified) + window < nanoseconds(previous.seen),
            nanoseconds(signature.changed) + window < nanoseconds(previous.seen)
        {
            return previous
        }
        var digest = SHA256()
        withUnsafeBytes(of: signature.size) { digest.update(bufferPointer: $0) }
        if kind(of: status) != nil || Int(status.st_size) > limit {
            // Refused when loaded; its signature is enough to notice when it is replaced.
            withUnsafeBytes(of: (signature.inode, signature.modified.tv_sec, signature.modified.tv_nsec)) {
                digest.update(bufferPointer: $0)
            }
            return Observation(signature: signature, seen: now, digest: Array(digest.finalize()))
        }
        contentReads += 1
        do {
            try read(path, limit: limit) { digest.update(bufferPointer: $0) }
        } catch {
            digest.update(data: Array("unreadable \(error)".utf8))
        }
        return Observation(signature: signature, seen: now, digest: Array(digest.finalize()))
    }

    /// Opens without blocking (a FIFO with no writer) and without making a terminal the controlling one.
    private static func openForReading(_ path: String) throws(Problem) -> Int32 {
        // The kind is checked before opening: opening a device can have effects of its own.
        var status = stat()
        if stat(path, &status) == 0, let kind = kind(of: status) { throw .notRegular(kind: kind) }
        let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
        guard descriptor >= 0 else {
            let code = errno
            throw code == ENOENT ? .missing : .unreadable(reason: errorText(code))
        }
        return descriptor
    }

    /// `nil` for a regular file, else what the file is.
    private static func kind(of status: stat) -> String? {
        switch status.st_mode & S_IFMT {
        case S_IFREG: nil
        case S_IFDIR: "a directory"
        case S_IFIFO: "a FIFO"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFSOCK: "a socket"
        default: "a special file"
        }
    }

    #if canImport(Darwin)
        private static func modificationTime(_ status: stat) -> timespec { status.st_mtimespec }
        private static func changeTime(_ status: stat) -> timespec { status.st_ctimespec }
    #else
        private static func modificationTime(_ status: stat) -> timespec { status.st_mtim }
        private static func changeTime(_ status: stat) -> timespec { status.st_ctim }
    #endif

    /// `read(2)`, named apart from ``read(_:limit:_:)``.
    private static func systemRead(_ descriptor: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
        #if canImport(Glibc)
            Glibc.read(descriptor, buffer, count)
        #elseif canImport(Musl)
            Musl.read(descriptor, buffer, count)
        #else
            Darwin.read(descriptor, buffer, count)
        #endif
    }

    private static func nanoseconds(_ time: timespec) -> Int64 {
        Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }

    private static func errorText(_ code: Int32) -> String {
        String(cString: strerror(code)).lowercased()
    }
}
