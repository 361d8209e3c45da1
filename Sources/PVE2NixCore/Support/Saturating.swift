/// Arithmetic on figures from captures that must never trap: sums and products stop at the
/// type's bounds, conversions from `Double` clamp (NaN is zero). The parsers reject absurd
/// values with a diagnostic; this keeps the planners safe whatever reaches them.
extension Int64 {
    public func saturatingAdd(_ other: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }

    public func saturatingSubtract(_ other: Int64) -> Int64 {
        let (difference, overflow) = subtractingReportingOverflow(other)
        return overflow ? (other < 0 ? .max : .min) : difference
    }

    public init(clamping value: Double) {
        if value.isNaN { self = 0 } else if value >= 9.223372036854775e18 { self = .max } else if value <= -9.223372036854775e18 { self = .min } else { self = Int64(value) }
    }
}

extension Int {
    public func saturatingAdd(_ other: Int) -> Int {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }

    public init(clamping value: Double) {
        self = Int(Int64(clamping: value))
    }
}
