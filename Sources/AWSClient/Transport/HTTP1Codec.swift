import NIOCore

/// Reads one HTTP/1.1 response at a time from the bytes of a connection, as they arrive (RFC 9112).
///
/// The kept-alive transport's answers are small and come one at a time, so a response is collected whole: status,
/// header fields and body, with `Content-Length`, `chunked` or read-until-close framing. Everything the peer sends is
/// bounded (head, chunk lines, trailers, body), and anything that is not HTTP/1.1 as RFC 9112 writes it is an error
/// rather than a guess: a framing guess on a reused connection is how one response is read as part of another.
public struct HTTP1ResponseParser: Sendable {
    /// A whole response.
    public struct Response: Sendable, Equatable {
        public var status: Int
        public var headers: [Header]
        public var body: [UInt8]
        /// Whether the connection may carry another exchange.
        public var keepAlive: Bool
    }

    public struct Header: Sendable, Equatable {
        public var name: String
        public var value: String
    }

    /// Why the bytes are not a response this parser accepts; the connection cannot be used again.
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
        /// The body or head went over its limit, rather than breaking the rules.
        public let isTooLarge: Bool

        static func malformed(_ what: String) -> Failure { Failure(description: what, isTooLarge: false) }
        static func tooLarge(_ what: String) -> Failure { Failure(description: what, isTooLarge: true) }
    }

    private enum State {
        case head
        case fixedBody(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case untilClose
    }

    public let maxHeadBytes: Int
    public let maxBodyBytes: Int
    private var state = State.head
    private var pending = ByteBuffer()
    /// Where the search for the end of the head or of a line resumes, so bytes that arrive one by one are not
    /// scanned again each time.
    private var scanned = 0
    private var trailerBytes = 0
    private var status = 0
    private var headers: [Header] = []
    private var body: [UInt8] = []
    private var keepAlive = true

    public init(maxHeadBytes: Int = 64 << 10, maxBodyBytes: Int) {
        self.maxHeadBytes = maxHeadBytes
        self.maxBodyBytes = maxBodyBytes
    }

    /// Whether nothing of a response has arrived yet.
    public var isIdle: Bool {
        if case .head = state { return pending.readableBytes == 0 }
        return false
    }

    /// Takes the bytes that arrived; returns the response once the last of it is there.
    ///
    /// Bytes after a whole response are not expected (one request at a time): the response then says the
    /// connection cannot be kept.
    public mutating func feed(_ bytes: inout ByteBuffer) throws(Failure) -> Response? {
        if pending.readableBytes == 0 {
            swap(&pending, &bytes)
        } else {
            pending.writeBuffer(&bytes)
        }
        while true {
            switch state {
            case .head:
                guard try readHead() else { return nil }
            case .fixedBody(let remaining):
                if let left = takeBody(remaining) {
                    state = .fixedBody(remaining: left)
                    return nil
                }
                return complete()
            case .chunkSize:
                guard let line = try readLine(limit: 4096, what: "chunk size line") else { return nil }
                let size = try Self.chunkSize(line)
                guard body.count + size <= maxBodyBytes else { throw .tooLarge("response body larger than the limit") }
                state = size == 0 ? .trailers : .chunkData(remaining: size)
            case .chunkData(let remaining):
                if let left = takeBody(remaining) {
                    state = .chunkData(remaining: left)
                    return nil
                }
                state = .chunkDataEnd
            case .chunkDataEnd:
                let view = pending.readableBytesView
                guard view.first.map({ $0 == UInt8(ascii: "\r") }) ?? true,
                    view.dropFirst().first.map({ $0 == UInt8(ascii: "\n") }) ?? true
                else { throw .malformed("chunk data longer than its size") }
                guard view.count >= 2 else { return nil }
                pending.moveReaderIndex(forwardBy: 2)
                state = .chunkSize
            case .trailers:
                guard let line = try readLine(limit: maxHeadBytes, what: "trailer section") else { return nil }
                trailerBytes += line.count + 2
                guard trailerBytes <= maxHeadBytes else { throw .tooLarge("trailer section larger than the limit") }
                if line.isEmpty { return complete() }
            case .untilClose:
                guard body.count + pending.readableBytes <= maxBodyBytes else {
                    throw .tooLarge("response body larger than the limit")
                }
                appendBody(pending.readableBytes)
                return nil
            }
        }
    }

    /// The connection closed: the response that was being read until the close is complete; anything else that was
    /// under way is cut short.
    public mutating func finishAtClose() throws(Failure) -> Response? {
        switch state {
        case .untilClose:
            return complete()
        case .head where pending.readableBytes == 0:
            return nil
        default:
            throw .malformed("connection closed before the whole response arrived")
        }
    }

    // MARK: - Head

    /// Reads the status line and header fields once they are all there; returns false until then.
    private mutating func readHead() throws(Failure) -> Bool {
        let view = pending.readableBytesView
        guard let end = Self.find(Self.headTerminator, in: view, from: scanned) else {
            guard view.count <= maxHeadBytes else { throw .tooLarge("response head larger than the limit") }
            scanned = max(0, view.count - Self.headTerminator.count + 1)
            return false
        }
        guard end <= maxHeadBytes else { throw .tooLarge("response head larger than the limit") }
        let head = pending.readBytes(length: end + Self.headTerminator.count)!.dropLast(Self.headTerminator.count)
        scanned = 0
        var lines = try Self.lines(head).makeIterator()
        guard let statusLine = lines.next() else { throw .malformed("empty response head") }
        let isHTTP10 = try parseStatusLine(statusLine)
        var contentLength: Int?
        var transferEncoding: [Substring] = []
        var connection: [Substring] = []
        headers.removeAll(keepingCapacity: true)
        while let line = lines.next() {
            let (name, value) = try Self.headerField(line)
            if ASCIICase.equals(name, "content-length") {
                guard let length = Self.decimal(value), contentLength == nil || contentLength == length else {
                    throw .malformed("invalid Content-Length")
                }
                contentLength = length
            } else if ASCIICase.equals(name, "transfer-encoding") {
                transferEncoding += Self.tokens(value)
            } else if ASCIICase.equals(name, "connection") {
                connection += Self.tokens(value)
            }
            headers.append(Header(name: String(decoding: name, as: UTF8.self), value: value))
        }
        if (100..<200).contains(status) {
            // An interim response (100 Continue, 103 Early Hints) comes before the real one; 101 would switch
            // protocols, which this transport never asks for.
            guard status != 101 else { throw .malformed("unexpected 101 Switching Protocols") }
            headers.removeAll(keepingCapacity: true)
            return true
        }
        keepAlive =
            isHTTP10
            ? connection.contains { $0.lowercased() == "keep-alive" }
            : !connection.contains { $0.lowercased() == "close" }
        body.removeAll(keepingCapacity: true)
        if status == 204 || status == 304 {
            state = .fixedBody(remaining: 0)
        } else if !transferEncoding.isEmpty {
            // Only chunked alone is read (the transport asks for no other coding). A Content-Length beside it is
            // what request smuggling uses: the response is still framed by chunked (RFC 9112 §6.3), but the
            // connection is not used again.
            guard transferEncoding.count == 1, transferEncoding[0].lowercased() == "chunked" else {
                throw .malformed("unsupported Transfer-Encoding")
            }
            if contentLength != nil { keepAlive = false }
            state = .chunkSize
        } else if let contentLength {
            guard contentLength <= maxBodyBytes else { throw .tooLarge("response body larger than the limit") }
            body.reserveCapacity(contentLength)
            state = .fixedBody(remaining: contentLength)
        } else {
            keepAlive = false
            state = .untilClose
        }
        return true
    }

    /// `HTTP/1.x SP 3DIGIT [SP reason]`; returns whether the version is 1.0.
    private mutating func parseStatusLine(_ line: ArraySlice<UInt8>) throws(Failure) -> Bool {
        // Read in place, by offset from the slice's start: every answer's status line goes through here.
        let start = line.startIndex
        func byte(_ offset: Int) -> UInt8 { line[start + offset] }
        let digits = line.dropFirst(9).prefix(3)
        guard line.count >= 12, line.starts(with: "HTTP/1.".utf8),
            byte(7) == UInt8(ascii: "0") || byte(7) == UInt8(ascii: "1"), byte(8) == UInt8(ascii: " "),
            digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
            line.count == 12 || byte(12) == UInt8(ascii: " ")
        else { throw .malformed("invalid status line") }
        status = digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        guard status >= 100 else { throw .malformed("invalid status code") }
        return byte(7) == UInt8(ascii: "0")
    }

    /// The name's bytes and the value without surrounding white space.
    private static func headerField(_ line: ArraySlice<UInt8>) throws(Failure) -> (ArraySlice<UInt8>, String) {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex else {
            let folded = line.first == UInt8(ascii: " ") || line.first == UInt8(ascii: "\t")
            throw .malformed(folded ? "folded header line" : "invalid header line")
        }
        let name = line[..<colon]
        guard name.allSatisfy(isTokenByte) else { throw .malformed("invalid header name") }
        var value = line[(colon + 1)...]
        while let first = value.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") { value.removeFirst() }
        while let last = value.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") { value.removeLast() }
        guard !value.contains(0) else { throw .malformed("invalid header value") }
        return (name, String(decoding: value, as: UTF8.self))
    }

    /// The head split on CRLF; a CR or LF anywhere else is not HTTP/1.1.
    private static func lines(_ head: ArraySlice<UInt8>) throws(Failure) -> [ArraySlice<UInt8>] {
        var lines: [ArraySlice<UInt8>] = []
        var start = head.startIndex
        var index = head.startIndex
        while index < head.endIndex {
            switch head[index] {
            case UInt8(ascii: "\r"):
                guard index + 1 < head.endIndex, head[index + 1] == UInt8(ascii: "\n") else {
                    throw .malformed("bare carriage return in response head")
                }
                lines.append(head[start..<index])
                index += 2
                start = index
            case UInt8(ascii: "\n"):
                throw .malformed("bare line feed in response head")
            default:
                index += 1
            }
        }
        lines.append(head[start..<head.endIndex])
        return lines
    }

    // MARK: - Body

    /// Takes up to `remaining` body bytes from what arrived; returns how many are still to come, or nil when none.
    private mutating func takeBody(_ remaining: Int) -> Int? {
        let count = min(remaining, pending.readableBytes)
        appendBody(count)
        return remaining > count ? remaining - count : nil
    }

    private mutating func appendBody(_ count: Int) {
        guard count > 0 else { return }
        pending.withUnsafeReadableBytes { body.append(contentsOf: $0.prefix(count)) }
        pending.moveReaderIndex(forwardBy: count)
    }

    /// The response, and the parser ready for the next one.
    private mutating func complete() -> Response {
        let response = Response(
            status: status, headers: headers, body: body, keepAlive: keepAlive && pending.readableBytes == 0)
        state = .head
        headers = []
        body = []
        trailerBytes = 0
        scanned = 0
        return response
    }

    /// One CRLF-terminated line without its terminator, or nil until it is all there.
    private mutating func readLine(limit: Int, what: String) throws(Failure) -> ArraySlice<UInt8>? {
        let view = pending.readableBytesView
        guard let end = Self.find(Self.lineTerminator, in: view, from: scanned) else {
            guard view.count <= limit else { throw .tooLarge("\(what) larger than the limit") }
            scanned = max(0, view.count - 1)
            return nil
        }
        guard end <= limit else { throw .tooLarge("\(what) larger than the limit") }
        scanned = 0
        let line = pending.readBytes(length: end + 2)!.dropLast(2)
        guard !line.contains(UInt8(ascii: "\n")) else { throw .malformed("bare line feed in \(what)") }
        return line
    }

    static func chunkSize(_ line: ArraySlice<UInt8>) throws(Failure) -> Int {
        let digits = line.prefix { $0 != UInt8(ascii: ";") }
        guard !digits.isEmpty, digits.count <= 15 else { throw .malformed("invalid chunk size") }
        var size = 0
        for byte in digits {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): size = size * 16 + Int(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): size = size * 16 + Int(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): size = size * 16 + Int(byte - UInt8(ascii: "A") + 10)
            default: throw .malformed("invalid chunk size")
            }
        }
        return size
    }

    // MARK: - Bytes

    private static let headTerminator = Array("\r\n\r\n".utf8)
    private static let lineTerminator = Array("\r\n".utf8)

    /// The offset of `needle` in `view`, searching from `start`.
    private static func find(_ needle: [UInt8], in view: ByteBufferView, from start: Int) -> Int? {
        guard view.count >= needle.count else { return nil }
        var offset = max(0, start)
        let base = view.startIndex
        while offset + needle.count <= view.count {
            if view[base + offset] == needle[0] {
                var matched = true
                for index in 1..<needle.count where view[base + offset + index] != needle[index] {
                    matched = false
                    break
                }
                if matched { return offset }
            }
            offset += 1
        }
        return nil
    }

    private static func decimal(_ text: String) -> Int? {
        guard !text.isEmpty, text.utf8.count <= 18, text.utf8.allSatisfy({ (48...57).contains($0) }) else {
            return nil
        }
        return Int(text)
    }

    private static func tokens(_ value: String) -> [Substring] {
        value.split(separator: ",").map { $0.trimmingOptionalWhiteSpace() }.filter { !$0.isEmpty }
    }

    /// RFC 9110 token characters.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }
}

extension Substring {
    fileprivate func trimmingOptionalWhiteSpace() -> Substring {
        var result = self
        while let first = result.first, first == " " || first == "\t" { result = result.dropFirst() }
        while let last = result.last, last == " " || last == "\t" { result = result.dropLast() }
        return result
    }
}

/// Writes a request the way the kept-alive transport sends it: head and body in one buffer, one system call.
enum HTTP1RequestEncoder {
    /// `headers` must have been checked with ``isValidHeader(name:value:)``.
    static func encode(
        method: String, target: String, headers: [(name: String, value: String)], body: [UInt8],
        allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        var size = method.utf8.count + target.utf8.count + 32 + body.count
        for (name, value) in headers { size += name.utf8.count + value.utf8.count + 4 }
        var buffer = allocator.buffer(capacity: size)
        buffer.writeString(method)
        buffer.writeStaticString(" ")
        buffer.writeString(target)
        buffer.writeStaticString(" HTTP/1.1\r\n")
        for (name, value) in headers {
            buffer.writeString(name)
            buffer.writeStaticString(": ")
            buffer.writeString(value)
            buffer.writeStaticString("\r\n")
        }
        buffer.writeStaticString("\r\n")
        buffer.writeBytes(body)
        return buffer
    }

    /// A method is a token (RFC 9110 §9.1).
    static func isValidMethod(_ method: String) -> Bool {
        !method.isEmpty && method.utf8.allSatisfy(HTTP1ResponseParser.isTokenByte)
    }

    /// A header RFC 9110 allows on the wire, so that a value from a file or a variable cannot smuggle a second
    /// header or request.
    static func isValidHeader(name: String, value: String) -> Bool {
        name.withUTF8Buffer { !$0.isEmpty && $0.allSatisfy(HTTP1ResponseParser.isTokenByte) }
            && value.withUTF8Buffer { !$0.contains { $0 == 0 || $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\n") } }
    }
}
