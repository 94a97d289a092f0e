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
///
/// The three lists (AS path, communities, large communities) share one
/// allocation: a full table interns about a million distinct attribute sets,
/// and one allocation instead of three is what keeps it under 150 bytes a
/// route (`octoflow-bgp`'s README has the figures). Build from
/// [`RouteParts`] (or [`RouteAttrs::with_lists`]); read with
/// [`RouteAttrs::as_path`] and friends.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RouteAttrs {
    pub origin: RouteOrigin,
    /// NEXT_HOP, or MP_REACH_NLRI's next hop (its global address when a
    /// link-local one follows, RFC 2545 §3).
    pub next_hop: IpAddr,
    pub med: Option<u32>,
    pub local_pref: Option<u32>,
    /// The AS path, then the communities, then the large communities (three
    /// words each), back to back.
    lists: Box<[u32]>,
    as_path_len: u16,
    communities_len: u16,
}

impl Default for RouteAttrs {
    fn default() -> Self {
        RouteAttrs {
            origin: RouteOrigin::Igp,
            next_hop: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            med: None,
            local_pref: None,
            lists: Box::new([]),
            as_path_len: 0,
            communities_len: 0,
        }
    }
}

/// A route's attributes as parts, to build a [`RouteAttrs`] from (the lists
/// are borrowed, and copied into its one allocation).
#[derive(Debug, Clone, Copy)]
pub struct RouteParts<'a> {
    pub origin: RouteOrigin,
    pub as_path: &'a [u32],
    pub next_hop: IpAddr,
    pub med: Option<u32>,
    pub local_pref: Option<u32>,
    pub communities: &'a [u32],
    pub large_communities: &'a [[u32; 3]],
}

impl Default for RouteParts<'_> {
    fn default() -> Self {
        RouteParts {
            origin: RouteOrigin::Igp,
            as_path: &[],
            next_hop: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            med: None,
            local_pref: None,
            communities: &[],
            large_communities: &[],
        }
    }
}

impl From<RouteParts<'_>> for RouteAttrs {
    fn from(p: RouteParts<'_>) -> RouteAttrs {
        RouteAttrs {
            origin: p.origin,
            next_hop: p.next_hop,
            med: p.med,
            local_pref: p.local_pref,
            ..RouteAttrs::default()
        }
        .with_lists(p.as_path, p.communities, p.large_communities)
    }
}

impl RouteAttrs {
    /// These attributes with the given lists. A list longer than 65535 entries
    /// (impossible in a BGP message of 65535 bytes, RFC 8654) is cut.
    pub fn with_lists(
        mut self,
        as_path: &[u32],
        communities: &[u32],
        large_communities: &[[u32; 3]],
    ) -> RouteAttrs {
        let cut = |n: usize| n.min(u16::MAX as usize);
        let (a, c, l) = (
            cut(as_path.len()),
            cut(communities.len()),
            cut(large_communities.len()),
        );
        let mut v = Vec::with_capacity(a + c + 3 * l);
        v.extend_from_slice(&as_path[..a]);
        v.extend_from_slice(&communities[..c]);
        for x in &large_communities[..l] {
            v.extend_from_slice(x);
        }
        self.lists = v.into_boxed_slice();
        self.as_path_len = a as u16;
        self.communities_len = c as u16;
        self
    }

    /// The AS path as 4-byte numbers, the neighbour first and the origin last
    /// (AS4_PATH already merged, RFC 6793 §4.2.3). Members of an AS_SET follow
    /// the sequence in the order they came; [`RouteAttrs::origin_as`] is then
    /// the last of them.
    pub fn as_path(&self) -> &[u32] {
        &self.lists[..self.as_path_len as usize]
    }

    /// COMMUNITIES (RFC 1997), each `asn << 16 | value`, in wire order.
    pub fn communities(&self) -> &[u32] {
        let a = self.as_path_len as usize;
        &self.lists[a..a + self.communities_len as usize]
    }

    /// LARGE_COMMUNITY (RFC 8092): global administrator, local data 1 and 2.
    pub fn large_communities(&self) -> impl ExactSizeIterator<Item = [u32; 3]> + '_ {
        let from = self.as_path_len as usize + self.communities_len as usize;
        self.lists[from..]
            .chunks_exact(3)
            .map(|c| [c[0], c[1], c[2]])
    }

    /// The AS that originated the route: the last of the path; 0 for a route
    /// of the peer's own AS (empty path, iBGP).
    pub fn origin_as(&self) -> u32 {
        self.as_path().last().copied().unwrap_or(0)
    }

    /// The neighbouring AS the route came through: the first of the path.
    pub fn peer_as(&self) -> u32 {
        self.as_path().first().copied().unwrap_or(0)
    }

    /// The AS path as text: `65001 4200000000 64500` (empty for none).
    pub fn as_path_text(&self) -> AsPathText<'_> {
        AsPathText(self.as_path())
    }

    /// The communities as text: `65001:0 64500:1`.
    pub fn communities_text(&self) -> CommunitiesText<'_> {
        CommunitiesText(self.communities())
    }

    /// The large communities as text: `65001:64500:1`.
    pub fn large_communities_text(&self) -> LargeCommunitiesText<'_> {
        let from = self.as_path_len as usize + self.communities_len as usize;
        LargeCommunitiesText(&self.lists[from..])
    }
}

/// See [`RouteAttrs::as_path_text`].
pub struct AsPathText<'a>(pub &'a [u32]);
/// See [`RouteAttrs::communities_text`].
pub struct CommunitiesText<'a>(pub &'a [u32]);
/// See [`RouteAttrs::large_communities_text`]: three words per community.
pub struct LargeCommunitiesText<'a>(pub &'a [u32]);

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
        for (i, c) in self.0.chunks_exact(3).enumerate() {
            if i > 0 {
                f.write_char(' ')?;
            }
            write!(f, "{}:{}:{}", c[0], c[1], c[2])?;
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
        let a = RouteAttrs::default().with_lists(
            &[65001, 4_200_000_000, 64500],
            &[65001 << 16, 64500 << 16 | 1],
            &[[65001, 64500, 1]],
        );
        assert_eq!(
            a.large_communities().collect::<Vec<_>>(),
            [[65001, 64500, 1]]
        );
        assert_eq!(a.as_path_text().to_string(), "65001 4200000000 64500");
        assert_eq!(a.communities_text().to_string(), "65001:0 64500:1");
        assert_eq!(a.large_communities_text().to_string(), "65001:64500:1");
        assert_eq!((a.origin_as(), a.peer_as()), (64500, 65001));
        assert_eq!(RouteAttrs::default().origin_as(), 0, "iBGP, own AS");
    }
}
