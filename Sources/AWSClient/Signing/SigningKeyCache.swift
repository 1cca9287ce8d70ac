import Crypto
import Synchronization

/// The derived SigV4 key depends only on the secret, the day, the region and the service, so the SDKs keep it
/// for the day instead of computing four HMACs per request. One entry per (secret, region, service) is kept;
/// the secret itself is only held hashed.
public final class SigningKeyCache: Sendable {
    /// For signers that are made once and thrown away (credential providers, tests).
    public static let shared = SigningKeyCache(capacity: 64)

    private struct Entry {
        let shortDate: String
        let key: [UInt8]
    }

    private struct Scope: Hashable {
        let secretDigest: [UInt8]
        let region: String
        let service: String
    }

    /// Bounded so that rotating credentials cannot grow it without limit.
    private let capacity: Int
    private let entries = Mutex<[Scope: Entry]>([:])

    /// - Parameter capacity: scopes kept before the cache starts over.
    public init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    func key(secret: String, shortDate: String, region: String, service: String) -> [UInt8] {
        var secretCopy = secret
        let secretDigest = secretCopy.withUTF8 { HMACSHA256.digest(UnsafeRawBufferPointer($0)) }
        let scope = Scope(secretDigest: secretDigest, region: region, service: service)
        if let entry = entries.withLock({ $0[scope] }), entry.shortDate == shortDate {
            return entry.key
        }
        let key = Self.derive(secret: secret, shortDate: shortDate, region: region, service: service)
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll() }
            entries[scope] = Entry(shortDate: shortDate, key: key)
        }
        return key
    }

    static func derive(secret: String, shortDate: String, region: String, service: String) -> [UInt8] {
        func hmac(_ key: [UInt8], _ data: String) -> [UInt8] {
            HMACSHA256.authenticationCode(key: key, message: Array(data.utf8))
        }
        return hmac(hmac(hmac(hmac(Array("AWS4\(secret)".utf8), shortDate), region), service), "aws4_request")
    }
}
