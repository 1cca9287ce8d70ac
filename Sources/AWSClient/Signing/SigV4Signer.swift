import Crypto

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// A request in the shape SigV4 needs: method, decoded path, raw query, ordered headers and the body.
public struct SigV4Request: Sendable {
    public var method: String
    /// The path before percent-encoding; the signer encodes each segment once.
    public var path: String
    /// The query string as it goes on the wire (percent-encoded, without the leading `?`).
    public var query: String
    /// Header fields in the order they were given; repeated names are allowed.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(
        method: String,
        path: String,
        query: String = "",
        headers: [(name: String, value: String)],
        body: [UInt8] = []
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
    }

    /// Adds or replaces a header, matching its name case-insensitively.
    public mutating func setHeader(_ name: String, _ value: String) {
        let lowered = name.lowercased()
        headers.removeAll { $0.name.lowercased() == lowered }
        headers.append((name, value))
    }

    /// The first value of a header, matching its name case-insensitively.
    public func header(_ name: String) -> String? {
        let lowered = name.lowercased()
        return headers.first { $0.name.lowercased() == lowered }?.value
    }
}

/// The intermediate strings of one signature, kept so tests can compare each step with the official vectors.
public struct SigV4SigningResult: Sendable {
    public let canonicalRequest: String
    public let stringToSign: String
    public let signature: String
    public let authorization: String
    public let signedHeaders: String
}

/// AWS Signature Version 4 for requests signed in headers.
public struct SigV4Signer: Sendable {
    public let credentials: AWSCredentials
    public let region: String
    public let service: String
    private let keyCache: SigningKeyCache

    /// - Parameter keyCache: where the derived key is kept for the day; a sender that signs for one scope passes
    ///   its own small cache, so thousands of accounts do not evict each other's keys from the shared one.
    public init(
        credentials: AWSCredentials, region: String, service: String, keyCache: SigningKeyCache = .shared
    ) {
        self.credentials = credentials
        self.region = region
        self.service = service
        self.keyCache = keyCache
    }

    /// Options that differ between services and between the official test cases.
    public struct Options: Sendable {
        /// Remove `.`/`..` segments and repeated slashes (every service but S3).
        public var normalizePath: Bool = true
        /// Also send and sign `x-amz-content-sha256` (S3 style).
        public var signBodyHashHeader: Bool = false
        /// Leave `x-amz-security-token` out of the signature and add it afterwards (some STS-style callers).
        public var omitSessionTokenFromSignature: Bool = false
        public init() {}
    }

    /// Signs `request` in place: adds `X-Amz-Date`, the session token when there is one, and `Authorization`.
    @discardableResult
    public func sign(_ request: inout SigV4Request, date: Date, options: Options = Options()) -> SigV4SigningResult {
        let (longDate, shortDate) = Self.timestamps(date)
        // Headers this signature sets replace any the caller gave; each signature of an attempt starts afresh.
        request.headers.removeAll { header in
            ASCIICase.equals(header.name.utf8, "x-amz-date") || ASCIICase.equals(header.name.utf8, "authorization")
                || (credentials.sessionToken != nil && ASCIICase.equals(header.name.utf8, "x-amz-security-token"))
                || (options.signBodyHashHeader && ASCIICase.equals(header.name.utf8, "x-amz-content-sha256"))
        }
        request.headers.append(("X-Amz-Date", longDate))
        let bodyHash = Self.hexSHA256(request.body)
        if options.signBodyHashHeader {
            request.headers.append(("x-amz-content-sha256", bodyHash))
        }
        if let token = credentials.sessionToken, !options.omitSessionTokenFromSignature {
            request.headers.append(("X-Amz-Security-Token", token))
        }
        let (canonicalHeaders, signedHeaders) = Self.canonicalHeaders(request.headers)
        let path = Self.canonicalPath(request.path, normalize: options.normalizePath)
        let query = Self.canonicalQuery(request.query)
        // Built by appending rather than by joining arrays of interpolated strings: a request carries a session
        // token of a kilobyte or more, and every intermediate copy of it showed in the per-call profile.
        var canonical = ""
        canonical.reserveCapacity(
            request.method.utf8.count + path.utf8.count + query.utf8.count + canonicalHeaders.utf8.count
                + signedHeaders.utf8.count + bodyHash.utf8.count + 5)
        for piece in [request.method.uppercased(), path, query, canonicalHeaders, signedHeaders] {
            canonical += piece
            canonical += "\n"
        }
        canonical += bodyHash
        let scope = Self.joined([shortDate, "/", region, "/", service, "/aws4_request"])
        let stringToSign = Self.joined(["AWS4-HMAC-SHA256\n", longDate, "\n", scope, "\n", Self.hexSHA256(canonical)])
        let signature = Self.hex(
            stringToSign.withUTF8Bytes { message in
                signingKey(shortDate: shortDate).withUnsafeBytes { key in
                    HMACSHA256.authenticationDigest(key: key, message: message)
                }
            })
        let authorization = Self.joined([
            "AWS4-HMAC-SHA256 Credential=", credentials.accessKeyID, "/", scope, ", SignedHeaders=", signedHeaders,
            ", Signature=", signature,
        ])
        request.headers.append(("Authorization", authorization))
        if let token = credentials.sessionToken, options.omitSessionTokenFromSignature {
            request.headers.append(("X-Amz-Security-Token", token))
        }
        return SigV4SigningResult(
            canonicalRequest: canonical,
            stringToSign: stringToSign,
            signature: signature,
            authorization: authorization,
            signedHeaders: signedHeaders
        )
    }

    private func signingKey(shortDate: String) -> SHA256Digest {
        keyCache.key(
            secret: credentials.secretAccessKey, shortDate: shortDate, region: region, service: service)
    }

    // MARK: - Canonical forms

    static func timestamps(_ date: Date) -> (long: String, short: String) {
        let long = UTCTimestamp.basic(date)
        return (long, String(long.prefix(8)))
    }

    /// The pieces one after another in one allocation, where `a + b + c` makes a string per `+`.
    private static func joined(_ pieces: [String]) -> String {
        var result = ""
        result.reserveCapacity(pieces.reduce(0) { $0 + $1.utf8.count })
        for piece in pieces { result += piece }
        return result
    }

    static func canonicalHeaders(_ headers: [(name: String, value: String)]) -> (String, String) {
        // Sorting the few headers of a request and merging neighbours is cheaper than a dictionary of arrays;
        // the order breaks ties, so repeated names keep their order as SigV4 requires.
        var lowered: [(name: String, value: String, order: Int)] = []
        lowered.reserveCapacity(headers.count)
        for (order, header) in headers.enumerated() {
            lowered.append(
                (name: ASCIICase.lowercased(header.name), value: trimmedHeaderValue(header.value), order: order))
        }
        lowered.sort { $0.name == $1.name ? $0.order < $1.order : $0.name < $1.name }
        var lines = ""
        lines.reserveCapacity(lowered.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 2 })
        var names = ""
        var previous: String?
        for header in lowered {
            if header.name == previous {
                lines.removeLast()
                lines += ","
            } else {
                if previous != nil { names += ";" }
                names += header.name
                lines += header.name
                lines += ":"
                previous = header.name
            }
            lines += header.value
            lines += "\n"
        }
        return (lines, names)
    }

    /// Trims the value and folds every run of white space (including folded continuation lines) into one space.
    static func trimmedHeaderValue(_ value: String) -> String {
        if isAlreadyTrimmed(value) { return value }
        var result = ""
        result.reserveCapacity(value.utf8.count)
        var pendingSpace = false
        for scalar in value.unicodeScalars {
            if scalar == " " || scalar == "\t" || scalar == "\n" || scalar == "\r" {
                pendingSpace = !result.isEmpty
            } else {
                if pendingSpace { result.append(" ") }
                pendingSpace = false
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// Whether trimming would change nothing: no tab or line break, no space at either end, no two spaces in a
    /// row. True of almost every value, session tokens of a kilobyte included, which then skip the rebuild.
    private static func isAlreadyTrimmed(_ value: String) -> Bool {
        value.withUTF8Buffer { bytes in
            var previousWasSpace = true
            for byte in bytes {
                switch byte {
                case UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"): return false
                case UInt8(ascii: " "):
                    if previousWasSpace { return false }
                    previousWasSpace = true
                default: previousWasSpace = false
                }
            }
            return !previousWasSpace || bytes.isEmpty
        }
    }

    static func canonicalPath(_ path: String, normalize: Bool) -> String {
        // The path of every JSON and query protocol call.
        if path == "/" { return path }
        var segments = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if normalize {
            var resolved: [String] = []
            for segment in segments {
                switch segment {
                case "", ".": continue
                case "..": if !resolved.isEmpty { resolved.removeLast() }
                default: resolved.append(segment)
                }
            }
            let trailingSlash = path.hasSuffix("/") && !resolved.isEmpty
            segments = [""] + resolved + (trailingSlash ? [""] : [])
            if resolved.isEmpty { return "/" }
        }
        let encoded = segments.map { URIEncoding.encode($0) }.joined(separator: "/")
        return encoded.isEmpty ? "/" : encoded
    }

    static func canonicalQuery(_ query: String) -> String {
        guard !query.isEmpty else { return "" }
        let pairs: [(String, String)] = query.split(separator: "&").map { item in
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = URIEncoding.decode(String(parts[0]))
            let value = parts.count > 1 ? URIEncoding.decode(String(parts[1])) : ""
            return (URIEncoding.encode(key), URIEncoding.encode(value))
        }
        return pairs.sorted { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }

    static func hexSHA256(_ bytes: [UInt8]) -> String {
        hex(bytes.withUnsafeBytes { HMACSHA256.digest($0) })
    }

    static func hexSHA256(_ text: String) -> String {
        hex(text.withUTF8Bytes { HMACSHA256.digest($0) })
    }

    static func hex(_ digest: SHA256Digest) -> String {
        let digits: StaticString = "0123456789abcdef"
        return digest.withUnsafeBytes { bytes in
            String(unsafeUninitializedCapacity: bytes.count * 2) { out in
                for (index, byte) in bytes.enumerated() {
                    out[2 * index] = digits.utf8Start[Int(byte >> 4)]
                    out[2 * index + 1] = digits.utf8Start[Int(byte & 0x0f)]
                }
                return bytes.count * 2
            }
        }
    }
}

extension String {
    fileprivate func withUTF8Bytes<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        withUTF8Buffer { body(UnsafeRawBufferPointer($0)) }
    }
}
