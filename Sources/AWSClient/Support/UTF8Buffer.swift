extension String {
    /// The UTF-8 bytes as one buffer, copied only when the string is not native (request strings are). Scanning a
    /// buffer is several times faster than iterating `utf8`, which shows on kilobyte session tokens: every call
    /// signs one and checks it before it goes on the wire.
    func withUTF8Buffer<Result>(_ body: (UnsafeBufferPointer<UInt8>) throws -> Result) rethrows -> Result {
        var copy = self
        return try copy.withUTF8(body)
    }
}
