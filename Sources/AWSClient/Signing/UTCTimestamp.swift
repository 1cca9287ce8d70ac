#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// UTC timestamps in the two shapes the project writes: SigV4's `20150830T123600Z` and ISO 8601 with
/// milliseconds for logs. Written digit by digit: `String(format:)` and Foundation's date formatters cost more
/// than a whole signature, and the formatters pull ICU's calendar code into memory.
public enum UTCTimestamp {
    /// `yyyyMMdd'T'HHmmss'Z'`, as SigV4 signs it.
    public static func basic(_ date: Date) -> String {
        format(date, separators: false, milliseconds: false)
    }

    /// `yyyy-MM-dd'T'HH:mm:ss.SSS'Z'`, as log lines carry it.
    public static func extendedWithMilliseconds(_ date: Date) -> String {
        format(date, separators: true, milliseconds: true)
    }

    static func format(_ date: Date, separators: Bool, milliseconds: Bool) -> String {
        let since1970 = date.timeIntervalSince1970
        let seconds = since1970.rounded(.down)
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        var out: [UInt8] = []
        out.reserveCapacity(24)
        func digits(_ value: Int32, _ width: Int) {
            var divisor: Int32 = 1
            for _ in 1..<width { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                out.append(UInt8(ascii: "0") + UInt8(rest / divisor))
                rest %= divisor
                divisor /= 10
            }
        }
        digits(parts.tm_year + 1900, 4)
        if separators { out.append(UInt8(ascii: "-")) }
        digits(parts.tm_mon + 1, 2)
        if separators { out.append(UInt8(ascii: "-")) }
        digits(parts.tm_mday, 2)
        out.append(UInt8(ascii: "T"))
        digits(parts.tm_hour, 2)
        if separators { out.append(UInt8(ascii: ":")) }
        digits(parts.tm_min, 2)
        if separators { out.append(UInt8(ascii: ":")) }
        digits(parts.tm_sec, 2)
        if milliseconds {
            out.append(UInt8(ascii: "."))
            digits(Int32(min(999, ((since1970 - seconds) * 1000).rounded())), 3)
        }
        out.append(UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }
}
