import Crypto

/// HMAC-SHA256 (RFC 2104) over raw buffers.
///
/// swift-crypto's `HMAC` reaches its bytes through `DataProtocol` and keeps keys in `SymmetricKey`; five HMACs per
/// signature that way cost about as much as the rest of the signature. This is the same construction on the same
/// SHA-256, checked against swift-crypto's `HMAC` in the tests.
enum HMACSHA256 {
    static let blockSize = 64

    static func authenticationCode(key: [UInt8], message: [UInt8]) -> [UInt8] {
        key.withUnsafeBytes { key in
            message.withUnsafeBytes { message in authenticationCode(key: key, message: message) }
        }
    }

    static func authenticationCode(key: UnsafeRawBufferPointer, message: UnsafeRawBufferPointer) -> [UInt8] {
        authenticationDigest(key: key, message: message).withUnsafeBytes { Array($0) }
    }

    static func authenticationDigest(key: UnsafeRawBufferPointer, message: UnsafeRawBufferPointer) -> SHA256Digest {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: blockSize) { pad in
            pad.initialize(repeating: 0)
            if key.count > blockSize {
                digest(key).withUnsafeBytes { _ = pad.initialize(fromContentsOf: $0) }
            } else {
                _ = pad.initialize(fromContentsOf: key)
            }
            for index in 0..<blockSize { pad[index] ^= 0x36 }
            var inner = SHA256()
            inner.update(bufferPointer: UnsafeRawBufferPointer(pad))
            inner.update(bufferPointer: message)
            let innerDigest = inner.finalize()
            // 0x36 ^ 0x5c turns the inner pad into the outer one.
            for index in 0..<blockSize { pad[index] ^= 0x36 ^ 0x5c }
            var outer = SHA256()
            outer.update(bufferPointer: UnsafeRawBufferPointer(pad))
            innerDigest.withUnsafeBytes { outer.update(bufferPointer: $0) }
            return outer.finalize()
        }
    }

    static func digest(_ bytes: UnsafeRawBufferPointer) -> SHA256Digest {
        var hash = SHA256()
        hash.update(bufferPointer: bytes)
        return hash.finalize()
    }
}
