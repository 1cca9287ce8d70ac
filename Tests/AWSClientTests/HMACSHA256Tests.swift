import Crypto
import Testing

@testable import AWSClient

@Suite("HMAC-SHA256 over raw buffers")
struct HMACSHA256Tests {
    /// Key lengths around the 64-byte block, where HMAC pads or hashes the key.
    @Test(
        "equals swift-crypto's HMAC for keys shorter than, equal to and longer than a block",
        arguments: [0, 1, 32, 44, 63, 64, 65, 200])
    func matchesSwiftCrypto(keyLength: Int) {
        var generator = SystemRandomNumberGenerator()
        for messageLength in [0, 1, 55, 64, 1_000] {
            let key = (0..<keyLength).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let message = (0..<messageLength).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let expected = Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key)))
            #expect(HMACSHA256.authenticationCode(key: key, message: message) == expected)
        }
    }

    @Test("a derived signing key equals the one swift-crypto's HMAC derives")
    func derivedKey() {
        func hmac(_ key: SymmetricKey, _ data: String) -> SymmetricKey {
            SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Array(data.utf8), using: key))
        }
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
        let expected = hmac(
            hmac(hmac(hmac(SymmetricKey(data: Array("AWS4\(secret)".utf8)), "20120215"), "us-east-1"), "iam"),
            "aws4_request"
        ).withUnsafeBytes { Array($0) }
        let derived = SigningKeyCache.derive(secret: secret, shortDate: "20120215", region: "us-east-1", service: "iam")
        #expect(derived.withUnsafeBytes { Array($0) } == expected)
    }
}
