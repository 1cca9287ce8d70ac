import Crypto
import Synchronization

/// The derived SigV4 key depends only on the secret, the day, the region and the service, so the SDKs keep it
/// for the day instead of computing four HMACs per request. One entry per (secret, region, service) is kept;
/// the secret itself is only held hashed.
final class SigningKeyCache: Sendable {
    static let shared = SigningKeyCache()

    private struct Entry {
        let shortDate: String
        let key: SymmetricKey
    }

    private struct Scope: Hashable {
        let secretDigest: [UInt8]
        let region: String
        let service: String
    }

    /// Bounded so that rotating credentials cannot grow it without limit.
    private static let capacity = 64
    private let entries = Mutex<[Scope: Entry]>([:])

    func key(secret: String, shortDate: String, region: String, service: String) -> SymmetricKey {
        let scope = Scope(secretDigest: Array(SHA256.hash(data: Array(secret.utf8))), region: region, service: service)
        if let entry = entries.withLock({ $0[scope] }), entry.shortDate == shortDate {
            return entry.key
        }
        let key = Self.derive(secret: secret, shortDate: shortDate, region: region, service: service)
        entries.withLock { entries in
            if entries.count >= Self.capacity { entries.removeAll() }
            entries[scope] = Entry(shortDate: shortDate, key: key)
        }
        return key
    }

    static func derive(secret: String, shortDate: String, region: String, service: String) -> SymmetricKey {
        func hmac(_ key: SymmetricKey, _ data: String) -> SymmetricKey {
            SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Array(data.utf8), using: key))
        }
        let secretKey = SymmetricKey(data: Array("AWS4\(secret)".utf8))
        return hmac(hmac(hmac(hmac(secretKey, shortDate), region), service), "aws4_request")
    }
}
