import AWSClient
import NIOCore
import Testing

@Suite("HTTP/1.1 response parser: framing, limits and malformed input")
struct HTTP1ResponseParserTests {
    typealias Parser = HTTP1ResponseParser

    /// Feeds `text` in pieces of `step` bytes (0: whole) and returns the first response, or the failure.
    static func parse(
        _ text: String, step: Int = 0, maxBodyBytes: Int = 1 << 20, maxHeadBytes: Int = 64 << 10,
        closeAtEnd: Bool = false
    ) -> Result<Parser.Response?, Parser.Failure> {
        var parser = Parser(maxHeadBytes: maxHeadBytes, maxBodyBytes: maxBodyBytes)
        let bytes = Array(text.utf8)
        let pieceSize = step == 0 ? max(1, bytes.count) : step
        do {
            var offset = 0
            while offset < bytes.count {
                var piece = ByteBuffer(bytes: bytes[offset..<min(bytes.count, offset + pieceSize)])
                offset += pieceSize
                if let response = try parser.feed(&piece) { return .success(response) }
            }
            return .success(closeAtEnd ? try parser.finishAtClose() : nil)
        } catch {
            return .failure(error)
        }
    }

    /// The same response whether it arrives at once or byte by byte.
    static func parseBothWays(_ text: String, closeAtEnd: Bool = false) throws -> Parser.Response {
        let whole = try #require(try parse(text, closeAtEnd: closeAtEnd).get())
        let split = try #require(try parse(text, step: 1, closeAtEnd: closeAtEnd).get())
        #expect(whole == split)
        return whole
    }

    @Test("Content-Length framing, whole or byte by byte")
    func contentLength() throws {
        let response = try Self.parseBothWays(
            "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\nx-amzn-RequestId:  abc \r\n"
                + "Content-Length: 11\r\n\r\n{\"a\":\"bcd\"}")
        #expect(response.status == 200)
        #expect(response.body == Array("{\"a\":\"bcd\"}".utf8))
        #expect(response.keepAlive)
        #expect(response.headers.first { $0.name == "x-amzn-RequestId" }?.value == "abc")
    }

    @Test("chunked framing with extensions and trailers")
    func chunked() throws {
        let response = try Self.parseBothWays(
            "HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "5;name=value\r\nhello\r\nA\r\n, 01234567\r\n0\r\nX-Trailer: yes\r\n\r\n")
        #expect(response.status == 400)
        #expect(String(decoding: response.body, as: UTF8.self) == "hello, 01234567")
        #expect(response.keepAlive)
    }

    @Test("no length: the body runs until the connection closes, and the connection is not kept")
    func untilClose() throws {
        let response = try Self.parseBothWays("HTTP/1.0 200 OK\r\nServer: s\r\n\r\nall of it", closeAtEnd: true)
        #expect(response.body == Array("all of it".utf8))
        #expect(!response.keepAlive)
    }

    @Test("keep-alive: HTTP/1.1 unless Connection: close; HTTP/1.0 only with Connection: keep-alive")
    func keepAlive() throws {
        #expect(
            !(try Self.parseBothWays("HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n").keepAlive))
        #expect(
            try Self.parseBothWays("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n").keepAlive)
        #expect(!(try Self.parseBothWays("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").keepAlive))
        // Bytes after the response were never asked for: the connection is not trusted again.
        let extra = try #require(try Self.parse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1").get())
        #expect(!extra.keepAlive)
    }

    @Test("interim 1xx responses are skipped; 204 and 304 have no body")
    func statusRules() throws {
        let afterContinue = try Self.parseBothWays(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        #expect(afterContinue.status == 200)
        #expect(afterContinue.body == Array("ok".utf8))
        let noContent = try Self.parseBothWays("HTTP/1.1 204 No Content\r\nContent-Length: 99\r\n\r\n")
        #expect(noContent.status == 204 && noContent.body.isEmpty)
    }

    @Test("Content-Length beside chunked: chunked frames it, the connection is not kept")
    func smuggling() throws {
        let response = try Self.parseBothWays(
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n")
        #expect(response.body == Array("ab".utf8))
        #expect(!response.keepAlive)
    }

    @Test(
        "malformed responses are errors, never guesses",
        arguments: [
            "HTTP/2 200 OK\r\n\r\n", "HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 2000 OK\r\n\r\n", "ICY 200 OK\r\n\r\n",
            "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", "HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n",
            "HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n", "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
            "HTTP/1.1 200 OK\r\n: x\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFF\r\n",
            "HTTP/1.1 101 Switching Protocols\r\n\r\n",
        ])
    func malformed(text: String) {
        for step in [0, 1] {
            guard case .failure(let failure) = Self.parse(text, step: step) else {
                Issue.record("accepted \(text.debugDescription)")
                continue
            }
            #expect(!failure.description.isEmpty)
        }
    }

    @Test("head, body, chunks, trailers and read-until-close are each bounded")
    func limits() {
        let bigHead = "HTTP/1.1 200 OK\r\nX: \(String(repeating: "a", count: 2_000))\r\n\r\n"
        for step in [0, 1] {
            for (text, closeAtEnd) in [
                (bigHead, false),
                ("HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n", false),
                (
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n\(String(repeating: "a", count: 64))\r\n40\r\n",
                    false
                ),
                (
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: \(String(repeating: "t", count: 2_000))\r\n\r\n",
                    false
                ),
                ("HTTP/1.0 200 OK\r\n\r\n\(String(repeating: "b", count: 101))", true),
            ] {
                let result = Self.parse(
                    text, step: step, maxBodyBytes: 100, maxHeadBytes: 1_024, closeAtEnd: closeAtEnd)
                guard case .failure(let failure) = result else {
                    Issue.record("no limit on \(text.prefix(60).debugDescription): \(result)")
                    continue
                }
                #expect(failure.isTooLarge, "\(failure)")
            }
        }
    }

    @Test("a connection that closes mid-response is an error, not a short answer")
    func cutShort() {
        for text in ["HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "HTTP/1.1 200 OK\r\nContent-", ""] {
            let result = Self.parse(text, closeAtEnd: true)
            if text.isEmpty {
                #expect(result == .success(nil))
            } else {
                #expect(throws: Parser.Failure.self) { try result.get() }
            }
        }
    }

    @Test("the parser reads the next response on the same connection once the last one is complete")
    func twoInARow() throws {
        var parser = Parser(maxBodyBytes: 100)
        var first = ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na")
        #expect(try parser.feed(&first)?.body == Array("a".utf8))
        #expect(parser.isIdle)
        var second = ByteBuffer(
            string: "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nb\r\n0\r\n\r\n")
        let response = try #require(try parser.feed(&second))
        #expect(response.status == 404 && response.body == Array("b".utf8))
    }
}
