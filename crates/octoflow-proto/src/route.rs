//! What a BGP route says about the flows that match it: the path attributes
//! octoflow carries on every enriched record (RFC 4271 §5, RFC 1997, RFC 8092).
//!
//! One [`RouteAttrs`] is shared by every route that has the same attributes
//! (a RIB interns them), and a flow record's route travels beside the record
//! (an `Arc` per record of an enriched datagram), so [`crate::FlowRecord`]
//! stays small and `Copy`.

use std::fmt::{self, Write as _};
use std::net::{IpAddr, Ipv4Addr};

/// ORIGIN (RFC 4271 §5.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RouteOrigin {
    #[default]
    Igp,
    Egp,
    Incomplete,
}

impl RouteOrigin {
    /// As BIRD, gobgp and pmacct print it.
    pub fn name(self) -> &'static str {
        match self {
            RouteOrigin::Igp => "IGP",
            RouteOrigin::Egp => "EGP",
            RouteOrigin::Incomplete => "INCOMPLETE",
        }
    }
}

/// The attributes of one route.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RouteAttrs {
    pub origin: RouteOrigin,
    /// The AS path as 4-byte numbers, the neighbour first and the origin last
    /// (AS4_PATH already merged, RFC 6793 §4.2.3). Members of an AS_SET follow
    /// the sequence in the order they came; [`RouteAttrs::origin_as`] is then
    /// the last of them.
    pub as_path: Box<[u32]>,
    /// NEXT_HOP, or MP_REACH_NLRI's next hop (its global address when a
    /// link-local one follows, RFC 2545 §3).
    pub next_hop: IpAddr,
    pub med: Option<u32>,
    pub local_pref: Option<u32>,
    /// COMMUNITIES (RFC 1997), each `asn << 16 | value`, in wire order.
    pub communities: Box<[u32]>,
    /// LARGE_COMMUNITY (RFC 8092): global administrator, local data 1 and 2.
    pub large_communities: Box<[[u32; 3]]>,
}

impl Default for RouteAttrs {
    fn default() -> Self {
        RouteAttrs {
            origin: RouteOrigin::Igp,
            as_path: Box::new([]),
            next_hop: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            med: None,
            local_pref: None,
            communities: Box::new([]),
            large_communities: Box::new([]),
        }
    }
}

impl RouteAttrs {
    /// The AS that originated the route: the last of the path; 0 for a route
    /// of the peer's own AS (empty path, iBGP).
    pub fn origin_as(&self) -> u32 {
        self.as_path.last().copied().unwrap_or(0)
    }

    /// The neighbouring AS the route came through: the first of the path.
    pub fn peer_as(&self) -> u32 {
        self.as_path.first().copied().unwrap_or(0)
    }

    /// The AS path as text: `65001 4200000000 64500` (empty for none).
    pub fn as_path_text(&self) -> AsPathText<'_> {
        AsPathText(&self.as_path)
    }

    /// The communities as text: `65001:0 64500:1`.
    pub fn communities_text(&self) -> CommunitiesText<'_> {
        CommunitiesText(&self.communities)
    }

    /// The large communities as text: `65001:64500:1`.
    pub fn large_communities_text(&self) -> LargeCommunitiesText<'_> {
        LargeCommunitiesText(&self.large_communities)
    }
}

/// See [`RouteAttrs::as_path_text`].
pub struct AsPathText<'a>(pub &'a [u32]);
/// See [`RouteAttrs::communities_text`].
pub struct CommunitiesText<'a>(pub &'a [u32]);
/// See [`RouteAttrs::large_communities_text`].
pub struct LargeCommunitiesText<'a>(pub &'a [[u32; 3]]);

impl fmt::Display for AsPathText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_char(' ')?;
            }
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

impl fmt::Display for CommunitiesText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_char(' ')?;
            }
            write!(f, "{}:{}", c >> 16, c & 0xffff)?;
        }
        Ok(())
    }
}

impl fmt::Display for LargeCommunitiesText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, [g, a, b]) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_char(' ')?;
            }
            write!(f, "{g}:{a}:{b}")?;
        }
        Ok(())
    }
}

/// A route attribute as a flow's field: its name (the store's column, the
/// JSON key) and its text. With [`crate::schema::FIELDS`] these are the fields
/// an enriched flow has; they are the destination route's (where the flow goes
/// is what its AS path and communities say something about).
#[derive(Debug, Clone, Copy)]
pub struct RouteField {
    pub name: &'static str,
    /// Append the attribute's text (empty when the route has none).
    pub write: fn(&RouteAttrs, &mut String),
}

/// Every route field, in output order.
pub const ROUTE_FIELDS: &[RouteField] = &[
    RouteField {
        name: "as_path",
        write: |a, out| {
            let _ = write!(out, "{}", a.as_path_text());
        },
    },
    RouteField {
        name: "communities",
        write: |a, out| {
            let _ = write!(out, "{}", a.communities_text());
        },
    },
    RouteField {
        name: "large_communities",
        write: |a, out| {
            let _ = write!(out, "{}", a.large_communities_text());
        },
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_as_bird_and_gobgp_print_them() {
        let a = RouteAttrs {
            as_path: vec![65001, 4_200_000_000, 64500].into(),
            communities: vec![65001 << 16, 64500 << 16 | 1].into(),
            large_communities: vec![[65001, 64500, 1]].into(),
            ..RouteAttrs::default()
        };
        assert_eq!(a.as_path_text().to_string(), "65001 4200000000 64500");
        assert_eq!(a.communities_text().to_string(), "65001:0 64500:1");
        assert_eq!(a.large_communities_text().to_string(), "65001:64500:1");
        assert_eq!((a.origin_as(), a.peer_as()), (64500, 65001));
        assert_eq!(RouteAttrs::default().origin_as(), 0, "iBGP, own AS");
    }
}
