//! Typed decode and encode errors. Every malformed input maps to one
//! [`DecodeError`] whose [`DecodeError::reason`] is a stable label for counters.

use std::fmt;

/// Why a datagram (or one of its sets, see [`Batch::sets_skipped`](crate::Batch::sets_skipped))
/// could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer bytes than the fixed header of `what` needs.
    Truncated {
        what: &'static str,
        need: usize,
        have: usize,
    },
    /// The version at the start of the datagram is not one this codec knows (5, 9,
    /// 10, or sFlow 5); also a template cache file without the expected magic.
    UnknownVersion(u32),
    /// A v9 flowset or IPFIX set declares a length below 4 (RFC 3954 §5.2, RFC 7011 §3.3.2).
    SetLengthTooShort(u16),
    /// A set, record or sample length runs past the end of its container.
    LengthPastEnd {
        what: &'static str,
        len: usize,
        remaining: usize,
    },
    /// A template record declares no fields (and is not an IPFIX withdrawal).
    ZeroFieldCount { template_id: u16 },
    /// A template id below 256 in a template record (RFC 7011 §3.4.1).
    BadTemplateId(u16),
    /// Bytes left at the end of a data set that are not shorter than the template's
    /// shortest record (so not padding, RFC 7011 §3.3.1) but do not hold a whole
    /// record (a variable-length field runs past the end of the set).
    TruncatedRecord { template_id: u16, remaining: usize },
    /// A template whose records could never fit in a datagram.
    TemplateTooLarge { template_id: u16 },
    /// An options template whose scope is empty, not whole fields (v9), or larger
    /// than its field list.
    BadScopeCount { template_id: u16 },
    /// The IPFIX message length field disagrees with the datagram.
    BadMessageLength { declared: usize, actual: usize },
    /// A NetFlow v5 count outside 1..=30 or above the records the datagram holds.
    BadRecordCount { count: usize, room: usize },
    /// An sFlow address type other than 1 (IPv4) or 2 (IPv6).
    BadAddressType(u32),
    /// An IPFIX set id below 256 other than 2 and 3: reserved (RFC 7011 §3.3.2); the
    /// set is skipped and counted. NetFlow v9 skips its reserved flowset ids
    /// (2..=255) by their length without counting them.
    ReservedSetId(u16),
    /// The template cache has no room for another exporter scope (only when it may
    /// hold none: a full table evicts; see `CacheStats::scope_overflow`).
    TooManyScopes,
    /// A template larger than the template cache's whole byte budget
    /// (`Limits::max_template_bytes`; `CacheStats::template_overflow`).
    TemplateOverBudget {
        template_id: u16,
        bytes: usize,
        budget: usize,
    },
}

impl DecodeError {
    /// A short stable label, used as the `reason` of decode-error counters.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::Truncated { .. } => "truncated",
            DecodeError::UnknownVersion(_) => "unknown_version",
            DecodeError::SetLengthTooShort(_) => "set_length_too_short",
            DecodeError::LengthPastEnd { .. } => "length_past_end",
            DecodeError::ZeroFieldCount { .. } => "zero_field_count",
            DecodeError::BadTemplateId(_) => "bad_template_id",
            DecodeError::TruncatedRecord { .. } => "truncated_record",
            DecodeError::TemplateTooLarge { .. } => "template_too_large",
            DecodeError::BadScopeCount { .. } => "bad_scope_count",
            DecodeError::BadMessageLength { .. } => "bad_message_length",
            DecodeError::BadRecordCount { .. } => "bad_record_count",
            DecodeError::BadAddressType(_) => "bad_address_type",
            DecodeError::ReservedSetId(_) => "reserved_set_id",
            DecodeError::TooManyScopes => "too_many_scopes",
            DecodeError::TemplateOverBudget { .. } => "template_over_budget",
        }
    }

    /// Every reason label, for pre-registering counters.
    pub const REASONS: [&'static str; 15] = [
        "truncated",
        "unknown_version",
        "set_length_too_short",
        "length_past_end",
        "zero_field_count",
        "bad_template_id",
        "truncated_record",
        "template_too_large",
        "bad_scope_count",
        "bad_message_length",
        "bad_record_count",
        "bad_address_type",
        "reserved_set_id",
        "too_many_scopes",
        "template_over_budget",
    ];
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DecodeError::Truncated { what, need, have } => {
                write!(f, "truncated {what}: need {need} bytes, have {have}")
            }
            DecodeError::UnknownVersion(v) => write!(f, "unknown export version {v}"),
            DecodeError::SetLengthTooShort(l) => write!(f, "set length {l} is below 4"),
            DecodeError::LengthPastEnd {
                what,
                len,
                remaining,
            } => {
                write!(
                    f,
                    "{what} length {len} runs past the end ({remaining} bytes left)"
                )
            }
            DecodeError::ZeroFieldCount { template_id } => {
                write!(f, "template {template_id} has zero fields")
            }
            DecodeError::BadTemplateId(id) => write!(f, "template id {id} is below 256"),
            DecodeError::TruncatedRecord {
                template_id,
                remaining,
            } => {
                write!(
                    f,
                    "data set of template {template_id}: {remaining} bytes left hold no whole record"
                )
            }
            DecodeError::TemplateTooLarge { template_id } => {
                write!(
                    f,
                    "template {template_id} describes records larger than 65535 bytes"
                )
            }
            DecodeError::BadScopeCount { template_id } => {
                write!(
                    f,
                    "options template {template_id}: scope larger than its field list"
                )
            }
            DecodeError::BadMessageLength { declared, actual } => {
                write!(
                    f,
                    "message length {declared} but datagram has {actual} bytes"
                )
            }
            DecodeError::BadRecordCount { count, room } => {
                write!(
                    f,
                    "record count {count} does not fit ({room} records of room)"
                )
            }
            DecodeError::BadAddressType(t) => write!(f, "unknown sFlow address type {t}"),
            DecodeError::ReservedSetId(id) => write!(f, "reserved set id {id}"),
            DecodeError::TooManyScopes => write!(f, "template cache holds no exporter scope"),
            DecodeError::TemplateOverBudget {
                template_id,
                bytes,
                budget,
            } => write!(
                f,
                "template {template_id} takes {bytes} bytes, more than the whole template memory ({budget})"
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Why a record or message could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The record cannot be expressed in the target version (IPv6 in NetFlow v5).
    Unconvertible(&'static str),
    /// The caller's buffer (or the size limit) has no room for what was asked.
    BufferTooSmall { need: usize, have: usize },
    /// The message already holds the most records its format allows.
    MessageFull,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            EncodeError::Unconvertible(why) => write!(f, "unconvertible record: {why}"),
            EncodeError::BufferTooSmall { need, have } => {
                write!(f, "buffer too small: need {need} bytes, have {have}")
            }
            EncodeError::MessageFull => write!(f, "message is full"),
        }
    }
}

impl std::error::Error for EncodeError {}
