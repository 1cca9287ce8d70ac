import AWSClient
import Foundation
import TestSupport
import Testing

/// The official SigV4 suite (aws-c-auth's `aws-signing-test-suite/v4`), signed into headers.
@Suite("SigV4 official vectors")
struct SigV4VectorTests {
    /// Shipped in the repository with its Apache-2.0 license and notice, so a bare clone runs it.
    static let suiteDirectory = ExternalTools.repositoryRoot.appendingPathComponent("Tests/Data/sigv4/v4")

    static var caseNames: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: suiteDirectory.path)) ?? []
        return names.filter { name in
            FileManager.default.fileExists(
                atPath: suiteDirectory.appendingPathComponent(name).appendingPathComponent("header-signature.txt").path
            )
        }.sorted()
    }

    @Test("the whole suite is present")
    func suiteIsPresent() {
        // Guards the parameterized test below against silently running over nothing.
        #expect(Self.caseNames.count >= 30, "expected the official vectors at \(Self.suiteDirectory.path)")
    }

    @Test("header signing matches", arguments: caseNames)
    func headerSigning(caseName: String) throws {
        let directory = Self.suiteDirectory.appendingPathComponent(caseName)
        func read(_ file: String) throws -> String {
            try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
        }
        let context = try JSONDecoder().decode(VectorContext.self, from: Data(try read("context.json").utf8))
        var request = try RawRequest.parse(try read("request.txt"))
        let signer = SigV4Signer(
            credentials: AWSCredentials(
                accessKeyID: context.credentials.accessKeyID,
                secretAccessKey: context.credentials.secretAccessKey,
                sessionToken: context.credentials.token
            ),
            region: context.region,
            service: context.service
        )
        var options = SigV4Signer.Options()
        options.normalizePath = context.normalize
        options.signBodyHashHeader = context.signBody ?? false
        options.omitSessionTokenFromSignature = context.omitSessionToken ?? false
        let date = try #require(ISO8601DateFormatter().date(from: context.timestamp))
        let result = signer.sign(&request.signable, date: date, options: options)

        #expect(result.canonicalRequest == (try read("header-canonical-request.txt")))
        #expect(result.stringToSign == (try read("header-string-to-sign.txt")))
        #expect(result.signature == (try read("header-signature.txt")).trimmingCharacters(in: .whitespacesAndNewlines))
        let expectedAuthorization = try read("header-signed-request.txt")
            .split(separator: "\n")
            .first { $0.lowercased().hasPrefix("authorization:") }
            .map { String($0.dropFirst("authorization:".count)) }
        #expect(request.signable.header("Authorization") == expectedAuthorization)
    }
}

struct VectorContext: Decodable {
    struct Credentials: Decodable {
        let accessKeyID: String
        let secretAccessKey: String
        let token: String?
        enum CodingKeys: String, CodingKey {
            case accessKeyID = "access_key_id"
            case secretAccessKey = "secret_access_key"
            case token
        }
    }
    let credentials: Credentials
    let region: String
    let service: String
    let timestamp: String
    let normalize: Bool
    let signBody: Bool?
    let omitSessionToken: Bool?
    enum CodingKeys: String, CodingKey {
        case credentials, region, service, timestamp, normalize
        case signBody = "sign_body"
        case omitSessionToken = "omit_session_token"
    }
}

/// `request.txt`: request line, headers (a line starting with white space continues the previous value), body.
struct RawRequest {
    var signable: SigV4Request

    static func parse(_ text: String) throws -> RawRequest {
        let lines = text.components(separatedBy: "\n")
        let requestLine = try #require(lines.first).split(separator: " ")
        let method = String(requestLine[0])
        // The target sits between the method and the trailing protocol, and may itself contain spaces.
        let target = requestLine.dropFirst().dropLast().joined(separator: " ")
        var headers: [(name: String, value: String)] = []
        var index = 1
        while index < lines.count, !lines[index].isEmpty {
            let line = lines[index]
            if line.first == " " || line.first == "\t", !headers.isEmpty {
                headers[headers.count - 1].value += "\n" + line
            } else if let colon = line.firstIndex(of: ":") {
                headers.append((String(line[..<colon]), String(line[line.index(after: colon)...])))
            }
            index += 1
        }
        let body = index + 1 < lines.count ? lines[(index + 1)...].joined(separator: "\n") : ""
        let path: String
        let query: String
        if let questionMark = target.firstIndex(of: "?") {
            path = String(target[..<questionMark])
            query = String(target[target.index(after: questionMark)...])
        } else {
            path = target
            query = ""
        }
        return RawRequest(
            signable: SigV4Request(method: method, path: path, query: query, headers: headers, body: Array(body.utf8))
        )
    }
}
