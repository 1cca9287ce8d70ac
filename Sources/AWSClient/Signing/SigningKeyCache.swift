import Crypto
import Synchronization

/// The derived SigV4 key depends only on the secret, the day, the region and the service, so the SDKs keep it
/// for the day instead of computing four HMACs per request. One entry per (secret, region, service) is kept;
/// the secret itself is only held hashed.
public final class SigningKeyCache: Sendable {
    /// For signers that are made once and thrown away (credential providers, tests).
    public static let shared = SigningKeyCache(capacity: 64)

    /// Digests rather than arrays: a sender per target keeps its own cache, and 6,000 targets' entries should not
    /// cost a heap allocation each.
    private struct Entry {
        let secretDigest: SHA256Digest
        let region: String
        let service: String
        let shortDate: String
        let key: SHA256Digest
    }

    /// Bounded so that rotating credentials cannot grow it without limit.
    private let capacity: Int
    private let entries = Mutex<[Entry]>([])

    /// - Parameter capacity: scopes kept; the oldest goes first.
    public init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    func key(secret: String, shortDate: String, region: String, service: String) -> SHA256Digest {
        var secretCopy = secret
        let secretDigest = secretCopy.withUTF8 { HMACSHA256.digest(UnsafeRawBufferPointer($0)) }
        func sameScope(_ entry: Entry) -> Bool {
            entry.secretDigest == secretDigest && entry.region == region && entry.service == service
        }
        if let entry = entries.withLock({ $0.first(where: sameScope) }), entry.shortDate == shortDate {
            return entry.key
        }
        let key = Self.derive(secret: secret, shortDate: shortDate, region: region, service: service)
        entries.withLock { entries in
            entries.removeAll(where: sameScope)
            if entries.count >= capacity { entries.removeFirst() }
            entries.append(
                Entry(secretDigest: secretDigest, region: region, service: service, shortDate: shortDate, key: key))
        }
        return key
    }

    static func derive(secret: String, shortDate: String, region: String, service: String) -> SHA256Digest {
        func hmac(_ key: UnsafeRawBufferPointer, _ data: String) -> SHA256Digest {
            var data = data
            return data.withUTF8 { HMACSHA256.authenticationDigest(key: key, message: UnsafeRawBufferPointer($0)) }
        }
        var secretKey = "AWS4\(secret)"
        let dated = secretKey.withUTF8 { hmac(UnsafeRawBufferPointer($0), shortDate) }
        let regional = dated.withUnsafeBytes { hmac($0, region) }
        let service = regional.withUnsafeBytes { hmac($0, service) }
        return service.withUnsafeBytes { hmac($0, "aws4_request") }
    }
}
